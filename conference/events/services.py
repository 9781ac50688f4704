"""Editions, ticket types and capacity.

Capacity is claimed with one conditional UPDATE checked by its row count,
never read-then-write, so no interleaving of transactions can oversell; it
behaves the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
import logging
import time
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from conference.core.db import db, utcnow
from conference.core.errors import CapacityConflict, DomainError, NotFound
from conference.core.services import audit_change, record_audit
from conference.events.models import Edition, Quota, TicketType

logger = logging.getLogger(__name__)


class RegistrationState(enum.StrEnum):
    NOT_YET_OPEN = "not_yet_open"
    OPEN = "open"
    CLOSED = "closed"


def get_edition(slug: str, *, with_ticket_types: bool = False) -> Edition:
    """The edition with this slug, or NotFound; optionally its ticket types in the same read."""
    query = select(Edition).where(Edition.slug == slug)
    if with_ticket_types:
        query = query.options(joinedload(Edition.ticket_types))
    edition = db.session.scalar(query)
    if edition is None:
        raise NotFound(_("This event does not exist."))
    return edition


def current_edition() -> Edition | None:
    """The edition the front page shows: the next one to take place, else the latest."""
    upcoming = db.session.scalar(
        select(Edition).where(Edition.ends_at >= utcnow()).order_by(Edition.starts_at).limit(1)
    )
    if upcoming is not None:
        return upcoming
    return db.session.scalar(select(Edition).order_by(Edition.starts_at.desc()).limit(1))


def registration_state(edition: Edition, now: datetime | None = None) -> RegistrationState:
    """Whether the public may register for the edition right now."""
    return window_state(edition.registration_opens_at, edition.registration_closes_at, now)


def window_state(
    opens_at: datetime, closes_at: datetime, now: datetime | None = None
) -> RegistrationState:
    """Where ``now`` falls in a registration window that opens and closes at these times."""
    now = now or utcnow()
    if now < opens_at:
        return RegistrationState.NOT_YET_OPEN
    if now >= closes_at:
        return RegistrationState.CLOSED
    return RegistrationState.OPEN


def public_ticket_types(edition: Edition) -> list[TicketType]:
    return [t for t in edition.ticket_types if t.is_public]


def ticket_type_for_code(edition: Edition, access_code: str) -> TicketType | None:
    """The hidden ticket type an access code unlocks (case-insensitive), or None."""
    code = access_code.strip().upper()
    if not code:
        return None
    for ticket_type in edition.ticket_types:
        if ticket_type.access_code and ticket_type.access_code.upper() == code:
            return ticket_type
    return None


def main_quota(edition: Edition) -> Quota:
    """The quota the edition's places are counted in (all ticket types share it)."""
    if not edition.quotas:
        raise DomainError(_("The event has no capacity set."))
    return edition.quotas[0]


def claim_places(quota_id: int, count: int) -> bool:
    """Take ``count`` places if that many are free; True when they were taken.

    One conditional write: concurrent claims queue on the row and each one
    sees the others' committed result, so capacity is never exceeded.
    """
    if count <= 0:
        raise ValueError("count must be positive")
    result = db.session.execute(
        update(Quota)
        .where(Quota.id == quota_id, Quota.taken + count <= Quota.capacity)
        .values(taken=Quota.taken + count)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release_places(quota_id: int, count: int) -> None:
    """Give ``count`` places back to the quota (a cancellation or an expired hold).

    Never takes ``taken`` below zero: releasing more than is taken changes
    nothing and is logged, since it means the books were already wrong.
    """
    if count <= 0:
        return
    result = db.session.execute(
        update(Quota)
        .where(Quota.id == quota_id, Quota.taken >= count)
        .values(taken=Quota.taken - count)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        logger.error("release of %d places refused: quota %s has fewer taken", count, quota_id)


def lock_quota(quota_id: int) -> Quota:
    """The quota row, locked until the transaction ends, with fresh values.

    Every operation that changes both the waiting list and the quota takes
    this lock first, so they all lock in the same order (quota, then
    entries) and cannot deadlock each other. SQLite ignores FOR UPDATE; its
    BEGIN IMMEDIATE already lets one writer in at a time.
    """
    quota = db.session.execute(
        select(Quota)
        .where(Quota.id == quota_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if quota is None:
        raise NotFound(_("This capacity does not exist."))
    return quota


def places_left(quota_id: int) -> int:
    """Free places as the database sees them now."""
    quota = db.session.execute(
        select(Quota.capacity, Quota.taken).where(Quota.id == quota_id)
    ).one()
    return max(quota.capacity - quota.taken, 0)


def change_capacity(quota_id: int, new_capacity: int, actor: str) -> Quota:
    """Set a quota's capacity. Lowering below what is taken is refused.

    Raising it offers the freed places to the waiting list in the same
    transaction, so the offers and the new capacity commit together.
    """
    if new_capacity < 0:
        raise CapacityConflict(_("Capacity cannot be negative."), field="capacity")
    # Locked and re-read: the session may hold an old copy, and the decision
    # (refuse, offer) must rest on what is committed now.
    quota = lock_quota(quota_id)
    old_capacity = quota.capacity
    if quota.taken > new_capacity:
        raise CapacityConflict(
            _(
                "Capacity cannot be lowered to %(new)d: %(taken)d places are already "
                "confirmed or held.",
                new=new_capacity,
                taken=quota.taken,
            ),
            field="capacity",
        )
    quota.capacity = new_capacity
    record_audit(
        actor,
        "capacity.changed",
        "quota",
        quota_id,
        **audit_change({"capacity": old_capacity}, {"capacity": new_capacity}),
    )
    db.session.flush()
    if new_capacity > old_capacity:
        from conference.registration.services import offer_free_places

        offer_free_places(quota.edition)
        db.session.refresh(quota)
    return quota


# A ticket's calendar file is the same for every attendee of an edition in one
# language, and a rush sends hundreds of tickets. It is kept a minute, keyed by
# everything it shows, so DTSTAMP (when the file was made) is at most a minute
# old and an organiser's edit is in the next ticket at once.
_CALENDAR_SECONDS = 60.0
_calendars: dict[tuple, tuple[float, object]] = {}


def calendar_attachment(edition: Edition, language: str):
    """The edition as an iCalendar (.ics) attachment for ticket e-mails."""
    key = (
        edition.id,
        edition.slug,
        language,
        edition.name,
        edition.display_name(language),
        edition.display_description(language),
        edition.starts_at,
        edition.ends_at,
        edition.venue_name,
        edition.venue_address,
        edition.contact_email,
        edition.contact_name,
    )
    now = time.monotonic()
    cached = _calendars.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    calendar = _build_calendar(edition, language)
    if len(_calendars) > 100:
        _calendars.clear()
    _calendars[key] = (now + _CALENDAR_SECONDS, calendar)
    return calendar


def _build_calendar(edition: Edition, language: str):
    from icalendar import Calendar, Event, vCalAddress, vText

    from conference.mail.services import Attachment

    calendar = Calendar()
    calendar.add("prodid", "-//Digitaliseringstraef//Registration//DA")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"edition-{edition.id}-{edition.slug}@conference")
    event.add("dtstamp", utcnow().replace(tzinfo=UTC))
    event.add("dtstart", edition.starts_at.replace(tzinfo=UTC))
    event.add("dtend", edition.ends_at.replace(tzinfo=UTC))
    event.add("summary", edition.display_name(language))
    event.add("location", vText(f"{edition.venue_name}, {edition.venue_address}"))
    event.add("description", edition.display_description(language))
    if edition.contact_email:
        organizer = vCalAddress(f"mailto:{edition.contact_email}")
        organizer.params["cn"] = vText(edition.contact_name or edition.name)
        event["organizer"] = organizer
    calendar.add_component(event)
    filename = f"{edition.slug}.ics"
    return Attachment(filename, "text/calendar; charset=utf-8", calendar.to_ical())


def event_page(edition: Edition, language: str, now: datetime | None = None) -> dict:
    """Everything the public event page shows, as plain values."""
    quota = main_quota(edition)
    left = places_left(quota.id)
    state = registration_state(edition, now)
    return {
        "edition": edition,
        "language": language,
        "state": state.value,
        "ticket_types": public_ticket_types(edition),
        "places_left": left,
        "is_full": left == 0,
        "show_places_left": 0 < left <= edition.few_places_threshold,
    }
