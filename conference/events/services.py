"""Editions, ticket types and capacity.

Capacity is claimed with one conditional UPDATE checked by its row count,
never read-then-write, so no interleaving of transactions can oversell; it
behaves the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import to_user_timezone, to_utc
from sqlalchemy import Date, DateTime, bindparam, inspect, select, update
from sqlalchemy.orm import joinedload

from conference.core.db import db, edition_row, utcnow
from conference.core.errors import CapacityConflict, DomainError, NotFound
from conference.core.money import gross_of
from conference.core.services import audit_change, record_audit
from conference.events.models import AccessCode, Edition, Quota, TicketType

logger = logging.getLogger(__name__)


class RegistrationState(enum.StrEnum):
    NOT_YET_OPEN = "not_yet_open"
    OPEN = "open"
    CLOSED = "closed"


# The statements a registration rush runs thousands of times a second are built
# once, with bound parameters: building one per call (and computing its cache key)
# cost more CPU than the database spent answering it.
_EDITION_BY_SLUG = select(Edition).where(Edition.slug == bindparam("slug"))
_EDITION_WITH_TICKET_TYPES_BY_SLUG = _EDITION_BY_SLUG.options(joinedload(Edition.ticket_types))


def get_edition(slug: str, *, with_ticket_types: bool = False) -> Edition:
    """The edition with this slug, or NotFound; optionally its ticket types in the same read."""
    query = _EDITION_WITH_TICKET_TYPES_BY_SLUG if with_ticket_types else _EDITION_BY_SLUG
    edition = db.session.scalar(query, {"slug": slug})
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
    """The ticket type an access code unlocks (case-insensitive), or None."""
    code = find_access_code(edition, access_code)
    return code.ticket_type if code is not None else None


def main_quota(edition: Edition) -> Quota:
    """The quota the edition's places are counted in (all ticket types share it)."""
    if not edition.quotas:
        raise DomainError(_("The event has no capacity set."))
    return edition.quotas[0]


_quota = Quota.__table__.c
# On the table, not the ORM class: the ORM's bulk-update handling costs several
# times the write, and a claim runs while the quota row is locked.
_CLAIM = (
    update(Quota.__table__)
    .where(_quota.id == bindparam("quota_id"), _quota.taken + bindparam("count") <= _quota.capacity)
    .values(taken=_quota.taken + bindparam("count"))
)
_RELEASE = (
    update(Quota.__table__)
    .where(_quota.id == bindparam("quota_id"), _quota.taken >= bindparam("count"))
    .values(taken=_quota.taken - bindparam("count"))
)


def claim_places(quota_id: int, count: int) -> bool:
    """Take ``count`` places if that many are free; True when they were taken.

    One conditional write: concurrent claims queue on the row and each one
    sees the others' committed result, so capacity is never exceeded. A quota
    already loaded in the session keeps the values it was loaded with.
    """
    if count <= 0:
        raise ValueError("count must be positive")
    result = db.session.execute(_CLAIM, {"quota_id": quota_id, "count": count})
    return result.rowcount == 1


def release_places(quota_id: int, count: int) -> None:
    """Give ``count`` places back to the quota (a cancellation or an expired hold).

    Never takes ``taken`` below zero: releasing more than is taken changes
    nothing and is logged, since it means the books were already wrong.
    """
    if count <= 0:
        return
    result = db.session.execute(_RELEASE, {"quota_id": quota_id, "count": count})
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
        "prices": {t.id: ticket_price(t, now=now) for t in edition.ticket_types},
        "places_left": left,
        "is_full": left == 0,
        "show_places_left": 0 < left <= edition.few_places_threshold,
    }


# --- prices: early bird and access codes ---------------------------------------------

#: Far above any ticket; stops a typo with extra zeros (the stand setup uses the same).
MAX_TICKET_PRICE_ORE = 1_000_000_000
MAX_CODE_USES = 100_000
ACCESS_CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,59}$")


def copenhagen_date(moment: datetime | None = None) -> date:
    """The Copenhagen calendar day of a naive UTC moment (now by default)."""
    return to_user_timezone(moment or utcnow()).date()


@dataclass(frozen=True)
class TicketPrice:
    """What one place of a ticket type costs a booking made now, without VAT."""

    net_ore: int
    vat_percent: int
    #: The ticket type's normal price, to show beside a lower one.
    normal_net_ore: int
    #: Set when the early-bird price is the one paid: its last day.
    early_bird_until: date | None = None
    #: Set when an access code sets the price.
    access_code: AccessCode | None = None

    @property
    def gross_ore(self) -> int:
        return gross_of(self.net_ore, self.vat_percent)

    @property
    def normal_gross_ore(self) -> int:
        return gross_of(self.normal_net_ore, self.vat_percent)

    @property
    def is_reduced(self) -> bool:
        return self.net_ore < self.normal_net_ore


def early_bird_applies(ticket_type: TicketType, today: date) -> bool:
    """Whether the type's early-bird price is the one paid on this Copenhagen day."""
    return (
        ticket_type.early_bird_price_net_ore is not None
        and ticket_type.early_bird_until is not None
        and today <= ticket_type.early_bird_until
    )


def ticket_price(
    ticket_type: TicketType, code: AccessCode | None = None, now: datetime | None = None
) -> TicketPrice:
    """The price a booking of this type pays now: the code's price when a code with
    its own price is used, else the early-bird price up to its last day, else the
    normal price."""
    normal = ticket_type.price_net_ore
    if code is not None and code.price_net_ore is not None:
        return TicketPrice(code.price_net_ore, ticket_type.vat_percent, normal, access_code=code)
    if early_bird_applies(ticket_type, copenhagen_date(now)):
        return TicketPrice(
            ticket_type.early_bird_price_net_ore,
            ticket_type.vat_percent,
            normal,
            early_bird_until=ticket_type.early_bird_until,
            access_code=code,
        )
    return TicketPrice(normal, ticket_type.vat_percent, normal, access_code=code)


def unit_price_now(
    edition: Edition, ticket_type: TicketType, access_code: str | None, now: datetime | None
) -> int:
    """The price without VAT one place of a booking pays now (see ``ticket_price``)."""
    code = find_access_code(edition, access_code) if access_code else None
    if code is not None and code.ticket_type_id != ticket_type.id:
        code = None
    return ticket_price(ticket_type, code, now).net_ore


def normalise_code(text: str | None) -> str:
    return (text or "").strip().upper()


def find_access_code(edition: Edition, text: str | None) -> AccessCode | None:
    """The edition's access code typed by a booker (any case), or None."""
    code = normalise_code(text)
    if not code:
        return None
    return db.session.scalar(
        select(AccessCode).where(AccessCode.edition_id == edition.id, AccessCode.code == code)
    )


def take_code_use(code_id: int, count: int) -> bool:
    """Use an access code for ``count`` places if it has that many uses left.

    One conditional write in the order's transaction, like a claim of places:
    two bookers racing for the last use queue on the row and only one gets it.
    """
    result = db.session.execute(
        update(AccessCode)
        .where(AccessCode.id == code_id, AccessCode.used + count <= AccessCode.max_uses)
        .values(used=AccessCode.used + count)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def give_back_code_use(code_id: int, count: int) -> None:
    """Undo ``take_code_use`` (the order that used the code was taken back)."""
    db.session.execute(
        update(AccessCode)
        .where(AccessCode.id == code_id, AccessCode.used >= count)
        .values(used=AccessCode.used - count)
        .execution_options(synchronize_session=False)
    )


def code_used_up_message() -> str:
    return _("This access code has been used up.")


# --- ticket types and access codes, as the organiser manages them -------------------


@dataclass
class TicketTypeDetails:
    name: str
    name_en: str | None
    price_net_ore: int
    is_public: bool
    sort_order: int
    early_bird_price_net_ore: int | None = None
    early_bird_until: date | None = None


@dataclass
class AccessCodeDetails:
    code: str
    ticket_type_id: int
    #: None: the ticket type's own price; 0: free.
    price_net_ore: int | None
    max_uses: int
    note: str = ""


def get_ticket_type(edition: Edition, ticket_type_id: int) -> TicketType:
    return edition_row(
        TicketType, ticket_type_id, edition.id, _("This ticket type does not exist.")
    )


def get_access_code(edition: Edition, code_id: int) -> AccessCode:
    return edition_row(AccessCode, code_id, edition.id, _("This access code does not exist."))


def edition_access_codes(edition: Edition) -> list[AccessCode]:
    return list(
        db.session.scalars(
            select(AccessCode)
            .where(AccessCode.edition_id == edition.id)
            .options(joinedload(AccessCode.ticket_type))
            .order_by(AccessCode.code)
        )
    )


def _check_ticket_price(price_net_ore: int, field: str) -> None:
    if not 0 <= price_net_ore <= MAX_TICKET_PRICE_ORE:
        raise DomainError(_("Enter a price from 0 to 10.000.000 kr."), field=field)


def _ticket_type_values(ticket_type: TicketType) -> dict:
    return {
        "name": ticket_type.name,
        "name_en": ticket_type.name_en,
        "price_net_ore": ticket_type.price_net_ore,
        "is_public": ticket_type.is_public,
        "sort_order": ticket_type.sort_order,
        "early_bird_price_net_ore": ticket_type.early_bird_price_net_ore,
        "early_bird_until": (
            ticket_type.early_bird_until.isoformat() if ticket_type.early_bird_until else None
        ),
    }


def save_ticket_type(
    edition: Edition,
    details: TicketTypeDetails,
    *,
    actor: str,
    ticket_type: TicketType | None = None,
) -> TicketType:
    """Create a ticket type in the edition's places (or change one), audited.

    Orders already placed keep the price they were sold at. An early-bird price
    needs its last day, must be lower than the normal price, and ends at the
    latest on the day of the event.
    """
    if not details.name.strip():
        raise DomainError(_("This field is required."), field="name")
    _check_ticket_price(details.price_net_ore, "price")
    early_price, early_until = details.early_bird_price_net_ore, details.early_bird_until
    if early_price is not None:
        _check_ticket_price(early_price, "early_bird_price")
        if early_price >= details.price_net_ore:
            raise DomainError(
                _("The early-bird price must be lower than the normal price."),
                field="early_bird_price",
            )
        if early_until is None:
            raise DomainError(
                _("Enter the last day of the early-bird price."), field="early_bird_until"
            )
        if early_until > copenhagen_date(edition.starts_at):
            raise DomainError(
                _("The early-bird price must end at the latest on the day of the event."),
                field="early_bird_until",
            )
    elif early_until is not None:
        raise DomainError(
            _("Enter the early-bird price, or leave its last day empty."),
            field="early_bird_price",
        )
    before = _ticket_type_values(ticket_type) if ticket_type is not None else None
    if ticket_type is None:
        ticket_type = TicketType(edition_id=edition.id, quota_id=main_quota(edition).id)
        db.session.add(ticket_type)
    ticket_type.name = details.name.strip()
    ticket_type.name_en = (details.name_en or "").strip() or None
    ticket_type.price_net_ore = details.price_net_ore
    ticket_type.is_public = details.is_public
    ticket_type.sort_order = details.sort_order
    ticket_type.early_bird_price_net_ore = early_price
    ticket_type.early_bird_until = early_until if early_price is not None else None
    db.session.flush()
    record_audit(
        actor,
        "ticket_type.created" if before is None else "ticket_type.changed",
        "ticket_type",
        ticket_type.id,
        before=before,
        after=_ticket_type_values(ticket_type),
    )
    return ticket_type


def _access_code_values(code: AccessCode) -> dict:
    return {
        "code": code.code,
        "ticket_type_id": code.ticket_type_id,
        "price_net_ore": code.price_net_ore,
        "max_uses": code.max_uses,
        "note": code.note,
    }


def save_access_code(
    edition: Edition,
    details: AccessCodeDetails,
    *,
    actor: str,
    access_code: AccessCode | None = None,
) -> AccessCode:
    """Create an access code for one of the edition's ticket types (or change one), audited.

    Codes are unique in an edition whatever their case. The uses cannot be set
    below what is already used; the price (free, or a discount) not above the
    ticket type's normal price.
    """
    text = normalise_code(details.code)
    if not ACCESS_CODE_PATTERN.match(text):
        raise DomainError(
            _("Use 3 to 60 letters A–Z, digits, hyphens or underscores."), field="code"
        )
    clash = find_access_code(edition, text)
    if clash is not None and clash is not access_code:
        raise DomainError(_("This code is already used in this edition."), field="code")
    ticket_type = get_ticket_type(edition, details.ticket_type_id)
    if details.price_net_ore is not None:
        _check_ticket_price(details.price_net_ore, "price")
        if details.price_net_ore > ticket_type.price_net_ore:
            raise DomainError(
                _("The code's price cannot be higher than the ticket type's price."),
                field="price",
            )
    used = access_code.used if access_code is not None else 0
    if not 1 <= details.max_uses <= MAX_CODE_USES or details.max_uses < used:
        raise DomainError(
            _(
                "Enter a number of uses from %(min)d to %(max)d.",
                min=max(used, 1),
                max=MAX_CODE_USES,
            ),
            field="max_uses",
        )
    before = _access_code_values(access_code) if access_code is not None else None
    if access_code is None:
        access_code = AccessCode(edition_id=edition.id, used=0)
        db.session.add(access_code)
    access_code.code = text
    access_code.ticket_type_id = ticket_type.id
    access_code.price_net_ore = details.price_net_ore
    access_code.max_uses = details.max_uses
    access_code.note = details.note.strip()
    db.session.flush()
    record_audit(
        actor,
        "access_code.created" if before is None else "access_code.changed",
        "access_code",
        access_code.id,
        before=before,
        after=_access_code_values(access_code),
    )
    return access_code


# --- a new edition copied from an earlier one ----------------------------------------

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,59}$")


@dataclass
class EditionCopy:
    name: str
    name_en: str | None
    slug: str
    starts_on: date


def _shifted(value, days: int):
    """A stored date or naive UTC moment moved by whole Copenhagen calendar days.

    Moved in Copenhagen time, so a registration that opened at 09:00 in winter
    opens at 09:00 in the new year too, whatever daylight saving does between.
    """
    if value is None or days == 0:
        return value
    if isinstance(value, datetime):
        local = to_user_timezone(value).replace(tzinfo=None) + timedelta(days=days)
        return to_utc(local).replace(tzinfo=None)
    return value + timedelta(days=days)


def _copy_of(source, days: int, skip: tuple[str, ...] = (), **values):
    """A new row of the source's model with the source's column values, every date and
    time in them shifted by ``days``; the primary key, ``skip`` and ``values`` aside."""
    mapper = inspect(type(source))
    copied = {}
    for attribute in mapper.column_attrs:
        key = attribute.key
        column = attribute.columns[0]
        if column.primary_key or key in skip or key in values:
            continue
        value = getattr(source, key)
        if isinstance(column.type, DateTime | Date):
            value = _shifted(value, days)
        copied[key] = value
    return type(source)(**copied, **values)


def copy_edition(source: Edition, new: EditionCopy, *, actor: str) -> Edition:
    """A new edition made from an earlier one, its dates moved to the new start date.

    Copied: the edition's texts and settings, its quotas (their capacities,
    nothing taken), ticket types with their prices, access codes (none used),
    and the exhibition hall with its packages, add-ons and stands (all free).
    Every date and time moves by the days between the two start dates. Nothing
    personal is copied: no orders, attendees, waiting lists, stand bookings,
    passes, transfers or invoices. Raises DomainError on a taken or malformed slug.
    """
    from conference.stands.models import (
        Stand,
        StandAddon,
        StandHall,
        StandPackage,
        StandStatus,
    )

    slug = new.slug.strip().lower()
    if not SLUG_PATTERN.match(slug):
        raise DomainError(
            _("Use 2 to 60 lower-case letters a–z, digits and hyphens."), field="slug"
        )
    if db.session.scalar(select(Edition.id).where(Edition.slug == slug)) is not None:
        raise DomainError(_("This address is already used by another edition."), field="slug")
    if not new.name.strip():
        raise DomainError(_("This field is required."), field="name")
    days = (new.starts_on - copenhagen_date(source.starts_at)).days

    edition = _copy_of(
        source,
        days,
        skip=("created_at",),
        slug=slug,
        name=new.name.strip(),
        name_en=(new.name_en or "").strip() or None,
    )
    db.session.add(edition)
    db.session.flush()
    quotas = {}
    for quota in source.quotas:
        quotas[quota.id] = _copy_of(quota, days, edition_id=edition.id, taken=0)
        db.session.add(quotas[quota.id])
    db.session.flush()
    ticket_types = {}
    for ticket_type in source.ticket_types:
        ticket_types[ticket_type.id] = _copy_of(
            ticket_type, days, edition_id=edition.id, quota_id=quotas[ticket_type.quota_id].id
        )
        db.session.add(ticket_types[ticket_type.id])
    db.session.flush()
    codes = db.session.scalars(select(AccessCode).where(AccessCode.edition_id == source.id))
    for code in codes:
        db.session.add(
            _copy_of(
                code,
                days,
                skip=("created_at",),
                edition_id=edition.id,
                ticket_type_id=ticket_types[code.ticket_type_id].id,
                used=0,
            )
        )

    hall = db.session.scalar(select(StandHall).where(StandHall.edition_id == source.id))
    if hall is not None:
        db.session.add(_copy_of(hall, days, edition_id=edition.id))
        packages = {}
        for package in db.session.scalars(
            select(StandPackage).where(StandPackage.edition_id == source.id)
        ):
            packages[package.id] = _copy_of(package, days, edition_id=edition.id)
            db.session.add(packages[package.id])
        for addon in db.session.scalars(
            select(StandAddon).where(StandAddon.edition_id == source.id)
        ):
            db.session.add(_copy_of(addon, days, edition_id=edition.id))
        db.session.flush()
        for stand in db.session.scalars(select(Stand).where(Stand.edition_id == source.id)):
            db.session.add(
                _copy_of(
                    stand,
                    days,
                    edition_id=edition.id,
                    package_id=packages[stand.package_id].id,
                    status=StandStatus.FREE,
                    booking_id=None,
                )
            )
    db.session.flush()
    record_audit(
        actor,
        "edition.copied",
        "edition",
        edition.id,
        source=source.slug,
        slug=edition.slug,
        name=edition.name,
        days_shifted=days,
    )
    return edition
