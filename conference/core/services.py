"""Writing the audit log."""

from __future__ import annotations

from typing import Any

from conference.core.db import db
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
