"""A message an organiser wrote to attendees, and whom it went to.

The message keeps who sent it, when, the filter that chose the recipients and
the text; each recipient row points at the outbox message that carries it, so
the history shows each e-mail's delivery status as the worker records it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.core.db import db, utcnow


class CommunicationMessage(db.Model):
    __tablename__ = "communication_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: "staff:<id>", as the audit log names staff.
    sent_by: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    #: The English version, for orders placed in English; both or neither.
    subject_en: Mapped[str | None] = mapped_column(String(300))
    body_en: Mapped[str | None] = mapped_column(Text)
    #: The filter as chosen (see communication.services.Audience).
    audience: Mapped[dict] = mapped_column(JSON, default=dict)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)

    recipients: Mapped[list[CommunicationRecipient]] = relationship(
        back_populates="message", order_by="CommunicationRecipient.id"
    )


class CommunicationRecipient(db.Model):
    __tablename__ = "communication_recipient"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("communication_message.id"), index=True)
    #: The outbox row that carries this copy (no foreign key: outbox rows stand alone).
    outbox_message_id: Mapped[int | None] = mapped_column(Integer, index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("registration_order.id"), index=True)
    #: "attendee" or "booker"
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    language: Mapped[str] = mapped_column(String(5), default="da")

    message: Mapped[CommunicationMessage] = relationship(back_populates="recipients")
