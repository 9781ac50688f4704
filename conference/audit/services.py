"""Reading the audit log: searching it, naming its actors, showing before and after.

Plain values in, plain values out; nothing here writes.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone, to_utc
from sqlalchemy import ColumnElement, String, cast, func, or_, select

from conference.auth.models import StaffUser
from conference.core.db import db
from conference.core.models import AuditEvent
from conference.core.paging import Paged
from conference.core.spreadsheets import CSV_BOM, CSV_DELIMITER, CSV_LINE_END, neutralise_cell

AUDIT_PER_PAGE = 50
STAFF_PREFIX = "staff:"
#: Actors that are not a staff user, as the screen names them.
OTHER_ACTORS = {
    "system": _l("System"),
    "attendee": _l("Attendee"),
    "booker": _l("Booker"),
    "cli": _l("Command line"),
}


@dataclass
class AuditSearch:
    """What the organiser searches for; every part is optional. Dates are days in
    Copenhagen time, both included."""

    text: str = ""
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass
class FieldChange:
    name: str
    before: Any
    after: Any
    #: Whether the field exists on each side (a created object has no "before").
    had_before: bool = True
    has_after: bool = True


@dataclass
class AuditEntry:
    event: AuditEvent
    actor_name: str
    #: The staff user's e-mail, when the actor is staff.
    actor_email: str
    changes: list[FieldChange] = field(default_factory=list)
    #: Whatever else the record holds besides before/after.
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditPage(Paged):
    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _staff_actors_matching(word: str) -> list[str]:
    pattern = _like(word)
    ids = db.session.scalars(
        select(StaffUser.id).where(
            or_(
                StaffUser.name.ilike(pattern, escape="\\"),
                StaffUser.email.ilike(pattern, escape="\\"),
            )
        )
    )
    return [f"{STAFF_PREFIX}{user_id}" for user_id in ids]


def _conditions(search: AuditSearch) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for word in (search.text or "").split()[:6]:
        word = word[:100]
        pattern = _like(word)
        matches = [
            AuditEvent.action.ilike(pattern, escape="\\"),
            AuditEvent.object_type.ilike(pattern, escape="\\"),
            AuditEvent.actor.ilike(pattern, escape="\\"),
            cast(AuditEvent.data, String).ilike(pattern, escape="\\"),
        ]
        # The JSON column is stored with non-ASCII letters escaped ("\u00f8"), and
        # LIKE cannot fold the case of an escape: look for the escaped spelling in the
        # usual cases (as typed, lower, upper, capitalised as a name).
        for variant in {word, word.lower(), word.upper(), word.capitalize()}:
            escaped = json.dumps(variant)[1:-1]
            if escaped != variant:
                matches.append(cast(AuditEvent.data, String).ilike(_like(escaped), escape="\\"))
        if word.isdigit() and len(word) < 10:
            matches.append(AuditEvent.object_id == int(word))
        staff = _staff_actors_matching(word)
        if staff:
            matches.append(AuditEvent.actor.in_(staff))
        conditions.append(or_(*matches))
    if search.actor:
        conditions.append(AuditEvent.actor == search.actor)
    if search.action:
        conditions.append(AuditEvent.action == search.action)
    if search.object_type:
        conditions.append(AuditEvent.object_type == search.object_type)
    if search.object_id is not None:
        conditions.append(AuditEvent.object_id == search.object_id)
    if search.date_from:
        conditions.append(AuditEvent.created_at >= _utc_start_of(search.date_from))
    if search.date_to:
        conditions.append(AuditEvent.created_at < _utc_start_of(search.date_to + timedelta(days=1)))
    return conditions


def _utc_start_of(day: date) -> datetime:
    """Midnight of a Copenhagen day as naive UTC, as timestamps are stored."""
    return to_utc(datetime.combine(day, time.min)).replace(tzinfo=None)


def _statement(search: AuditSearch):
    return select(AuditEvent).where(*_conditions(search))


def search_audit(
    search: AuditSearch, *, page: int = 1, per_page: int = AUDIT_PER_PAGE
) -> AuditPage:
    """One page of the audit records that match, newest first."""
    conditions = _conditions(search)
    total = db.session.scalar(select(func.count(AuditEvent.id)).where(*conditions))
    result = AuditPage(entries=[], total=int(total or 0), page=1, per_page=per_page)
    result.page = min(max(page, 1), result.pages)
    events = list(
        db.session.scalars(
            _statement(search)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(per_page)
            .offset((result.page - 1) * per_page)
        )
    )
    result.entries = _entries(events)
    return result


def _staff_by_actor(actors: set[str]) -> dict[str, StaffUser]:
    ids = {
        int(actor[len(STAFF_PREFIX) :])
        for actor in actors
        if actor.startswith(STAFF_PREFIX) and actor[len(STAFF_PREFIX) :].isdigit()
    }
    if not ids:
        return {}
    users = db.session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))
    return {user.actor: user for user in users}


def actor_name(actor: str, staff: dict[str, StaffUser]) -> tuple[str, str]:
    """(name, e-mail) of an actor: a staff user's name and e-mail, else what it is."""
    user = staff.get(actor)
    if user is not None:
        return user.display_name, user.email
    if actor in OTHER_ACTORS:
        return str(OTHER_ACTORS[actor]), ""
    if actor.startswith(STAFF_PREFIX):
        return _("Deleted staff user (%(actor)s)", actor=actor), ""
    return actor, ""


def changes_of(data: Any) -> tuple[list[FieldChange], dict[str, Any]]:
    """Split a record's data into the field changes (``before``/``after`` dicts, see
    ``conference.core.services.audit_change``) and the remaining details."""
    if not isinstance(data, dict):
        return [], {"data": data} if data is not None else {}
    before, after = data.get("before"), data.get("after")
    details = {key: value for key, value in data.items() if key not in ("before", "after")}
    if isinstance(before, dict) or isinstance(after, dict):
        before = before if isinstance(before, dict) else {}
        after = after if isinstance(after, dict) else {}
        names = list(dict.fromkeys([*before, *after]))
        return [
            FieldChange(
                name=name,
                before=before.get(name),
                after=after.get(name),
                had_before=name in before,
                has_after=name in after,
            )
            for name in names
        ], details
    # Older records kept a single value under before/after.
    if "before" in data or "after" in data:
        change = FieldChange(
            name="",
            before=before,
            after=after,
            had_before="before" in data,
            has_after="after" in data,
        )
        return [change], details
    return [], details


def _entries(events: list[AuditEvent]) -> list[AuditEntry]:
    staff = _staff_by_actor({event.actor for event in events})
    entries = []
    for event in events:
        name, email = actor_name(event.actor, staff)
        changes, details = changes_of(event.data)
        entries.append(
            AuditEntry(
                event=event, actor_name=name, actor_email=email, changes=changes, details=details
            )
        )
    return entries


def actor_choices() -> list[tuple[str, str]]:
    """Every actor to filter by: the staff users (by name), then the others."""
    users = db.session.scalars(
        select(StaffUser).order_by(func.lower(StaffUser.name), StaffUser.email)
    )
    choices = [(user.actor, f"{user.display_name} ({user.email})") for user in users]
    choices += [(key, str(label)) for key, label in OTHER_ACTORS.items()]
    return choices


def action_choices() -> list[str]:
    """The actions the log holds, alphabetically."""
    return list(
        db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )


def object_type_choices() -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.object_type).distinct().order_by(AuditEvent.object_type)
        )
    )


def format_value(value: Any) -> str:
    """A before/after value as text: JSON for anything but plain text and numbers."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _changes_text(changes: list[FieldChange]) -> tuple[str, str]:
    def side(attr: str, present: str) -> str:
        parts = []
        for change in changes:
            if not getattr(change, present):
                continue
            value = format_value(getattr(change, attr))
            parts.append(f"{change.name}: {value}" if change.name else value)
        return "; ".join(parts)

    return side("before", "had_before"), side("after", "has_after")


def audit_csv(search: AuditSearch) -> str:
    """The matching records as CSV for Excel (BOM, semicolons, CRLF), newest first;
    every cell neutralised against formula injection."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator=CSV_LINE_END)
    writer.writerow(
        [
            _("Time"),
            _("Actor"),
            _("Actor's e-mail"),
            _("Action"),
            _("Object"),
            _("Object id"),
            _("Before"),
            _("After"),
            _("Details"),
        ]
    )
    statement = _statement(search).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    for entry in _entries(list(db.session.scalars(statement))):
        before, after = _changes_text(entry.changes)
        details = (
            json.dumps(entry.details, ensure_ascii=False, sort_keys=True, default=str)
            if entry.details
            else ""
        )
        writer.writerow(
            neutralise_cell(value)
            for value in (
                to_user_timezone(entry.event.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                entry.actor_name,
                entry.actor_email,
                entry.event.action,
                entry.event.object_type,
                entry.event.object_id if entry.event.object_id is not None else "",
                before,
                after,
                details,
            )
        )
    return buffer.getvalue()
