"""A transfer of a place from one holder to a colleague, and a request waiting for approval.

Every transfer that happened is a row here (status ``completed``) with who asked
for it, from whom to whom and the ticket code it retired, so the history of a
place can be shown and an old QR code recognised at the door.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.core.db import db, utcnow
from conference.registration.models import Attendee, Order


class TransferStatus(enum.StrEnum):
    COMPLETED = "completed"
    #: Outside the organisation's e-mail domain, waiting for an organiser.
    PENDING = "pending"
    DECLINED = "declined"
    #: A later transfer or request of the same place replaced this request.
    SUPERSEDED = "superseded"


class OutsideDomainRule(enum.StrEnum):
    ALLOW = "allow"
    APPROVAL = "approval"


class PlaceTransfer(db.Model):
    __tablename__ = "place_transfer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attendee_id: Mapped[int] = mapped_column(ForeignKey("attendee.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("registration_order.id"), index=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: When it was carried out, approved or declined.
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: "attendee", "booker" or "staff:<id>"
    requested_by: Mapped[str] = mapped_column(String(80))
    requester_email: Mapped[str] = mapped_column(String(254), default="")
    decided_by: Mapped[str | None] = mapped_column(String(80))
    #: The place's ticket_version the request was made against.
    from_version: Mapped[int] = mapped_column(Integer)
    from_name: Mapped[str] = mapped_column(String(200))
    from_email: Mapped[str] = mapped_column(String(254))
    from_job_title: Mapped[str] = mapped_column(String(200), default="")
    to_name: Mapped[str] = mapped_column(String(200))
    to_email: Mapped[str] = mapped_column(String(254))
    to_job_title: Mapped[str] = mapped_column(String(200), default="")
    to_dietary: Mapped[str] = mapped_column(String(300), default="")
    outside_domain: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The ticket code the transfer retired: its QR is refused as "transferred".
    old_ticket_code: Mapped[str | None] = mapped_column(String(40), index=True)
    #: The old holder's manage link (hashed): it says the place was handed on.
    old_manage_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(5), default="da")
    note: Mapped[str | None] = mapped_column(Text)

    attendee: Mapped[Attendee] = relationship()
    order: Mapped[Order] = relationship()
