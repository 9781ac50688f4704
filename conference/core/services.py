"""Writing the audit log.

Every change by staff or the system adds an ``AuditEvent``: who (``actor``: "staff:<id>",
"system", "attendee", "booker", "cli"), what (``action``, e.g. "capacity.changed"), on
which object (``object_type``, ``object_id``) and details in ``data``.

A change of an object's fields records what it was and what it became, so the
audit screen can show a diff: pass the two states through ``audit_change``::

    record_audit(actor, "staff.role_changed", "staff_user", user.id,
                 **audit_change({"role": "organiser"}, {"role": "accounting"}))

which stores ``data={"before": {"role": "organiser"}, "after": {"role": "accounting"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def new_audit_event(
    actor: str,
    action: str,
    object_type: str,
    object_id: int | None = None,
    **data: Any,
) -> AuditEvent:
    """An audit record, not written yet: for ``write_audit_events``."""
    return AuditEvent(
        actor=actor, action=action, object_type=object_type, object_id=object_id, data=data
    )


def write_audit_events(events: list[AuditEvent]) -> None:
    """Write audit records from ``new_audit_event`` at once, with one INSERT for all.

    For the registration rush, where they are written while the places are
    locked and a flush of the session would cost more than the write;
    elsewhere use ``record_audit``.
    """
    insert_new(events)


def write_audit(
    actor: str,
    action: str,
    object_type: str,
    object_id: int | None = None,
    **data: Any,
) -> AuditEvent:
    """Write one audit record at once (see ``write_audit_events``)."""
    event = new_audit_event(actor, action, object_type, object_id, **data)
    write_audit_events([event])
    return event


def audit_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict]:
    """The ``data`` of an audit record for a change: ``{"before": {...}, "after": {...}}``.

    Only the fields whose value differs are kept (a field missing on one side,
    as on creation, counts as different), so the diff shows what changed.
    Values must be JSON-serialisable; never pass a password or a secret.
    """
    keys = [
        key
        for key in {**before, **after}
        if key not in before or key not in after or before[key] != after[key]
    ]
    return {
        "before": {key: before[key] for key in keys if key in before},
        "after": {key: after[key] for key in keys if key in after},
    }
