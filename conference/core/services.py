"""Writing the audit log."""

from __future__ import annotations

from typing import Any

from conference.core.db import db, insert_new
from conference.core.models import AuditEvent


def record_audit(
    actor: str,
    action: str,
    object_type: str,
    object_id: int | None = None,
    **data: Any,
) -> AuditEvent:
    """Add an audit record to the current transaction (committed with the change)."""
    event = AuditEvent(
        actor=actor, action=action, object_type=object_type, object_id=object_id, data=data
    )
    db.session.add(event)
    return event


def write_audit(
    actor: str,
    action: str,
    object_type: str,
    object_id: int | None = None,
    **data: Any,
) -> AuditEvent:
    """Write an audit record at once with one INSERT (committed with the change).

    For the registration rush, where it runs while the places are locked and a
    flush of the session would cost more than the write; elsewhere use
    ``record_audit``.
    """
    event = AuditEvent(
        actor=actor, action=action, object_type=object_type, object_id=object_id, data=data
    )
    insert_new([event])
    return event
