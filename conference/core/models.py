"""The audit log: who changed what, when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from conference.core.db import db, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    #: "staff:<id>", "attendee", "booker", "system"
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: What the action concerned. A change records ``{"before": {...}, "after": {...}}``
    #: (see ``conference.core.services.audit_change``), which the audit screen shows as
    #: a diff; other keys are shown as they are.
    data: Mapped[dict] = mapped_column(JSON, default=dict)
