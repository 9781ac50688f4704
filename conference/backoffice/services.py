"""What the organiser's screens show and do: the dashboard figures, capacity
changes, and the registrant list with its CSV export.

Plain values in, plain values out; the views commit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import to_user_timezone
from sqlalchemy import ColumnElement, and_, func, or_, select

from conference.core.db import db
from conference.core.errors import NotFound
from conference.core.paging import Paged
from conference.core.spreadsheets import CSV_BOM, CSV_DELIMITER, CSV_LINE_END, neutralise_cell
from conference.events.models import Edition, Quota, TicketType
from conference.events.services import change_capacity, main_quota
from conference.invoicing.models import Invoice
from conference.payments.models import Refund
from conference.registration.models import (
    Attendee,
    AttendeeStatus,
    Order,
    OrderStatus,
    WaitingListEntry,
    WaitingStatus,
)
from conference.registration.services import held_places, waiting_list_summary

REGISTRANTS_PER_PAGE = 50
#: More words than this in one search are ignored (each word is one more filter).
MAX_SEARCH_WORDS = 6


# --- editions and the dashboard ---------------------------------------------------


@dataclass
class EditionSummary:
    edition: Edition
    capacity: int
    taken: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.taken, 0)


def list_editions() -> list[EditionSummary]:
    """Every edition, the latest first, with its main capacity."""
    editions = db.session.scalars(select(Edition).order_by(Edition.starts_at.desc())).all()
    summaries = []
    for edition in editions:
        quota = edition.quotas[0] if edition.quotas else None
        summaries.append(
            EditionSummary(
                edition=edition,
                capacity=quota.capacity if quota else 0,
                taken=quota.taken if quota else 0,
            )
        )
    return summaries


@dataclass
class TicketTypeCount:
    ticket_type: TicketType
    places: int


@dataclass
class Dashboard:
    """The figures of an edition's dashboard, read in one go."""

    edition: Edition
    quota: Quota
    capacity: int
    taken: int
    confirmed: int
    held: int
    free: int
    waiting_groups: int
    waiting_people: int
    orders: int
    by_ticket_type: list[TicketTypeCount]


def _confirmed_attendees(edition_id: int) -> list[ColumnElement[bool]]:
    return [
        Order.edition_id == edition_id,
        Order.status == OrderStatus.CONFIRMED,
        Attendee.status == AttendeeStatus.CONFIRMED,
    ]


def edition_dashboard(edition: Edition) -> Dashboard:
    """Capacity, confirmed and held places, free places, the waiting list and orders."""
    quota = main_quota(edition)
    # The quota may have been changed by a conditional UPDATE in this session.
    db.session.refresh(quota)
    counts = dict(
        db.session.execute(
            select(Attendee.ticket_type_id, func.count(Attendee.id))
            .join(Attendee.order)
            .where(*_confirmed_attendees(edition.id))
            .group_by(Attendee.ticket_type_id)
        ).all()
    )
    orders = db.session.scalar(
        select(func.count(Order.id)).where(
            Order.edition_id == edition.id, Order.status == OrderStatus.CONFIRMED
        )
    )
    groups, people = waiting_list_summary(edition)
    return Dashboard(
        edition=edition,
        quota=quota,
        capacity=quota.capacity,
        taken=quota.taken,
        confirmed=sum(counts.values()),
        held=held_places(edition),
        free=quota.free,
        waiting_groups=groups,
        waiting_people=people,
        orders=int(orders or 0),
        by_ticket_type=[
            TicketTypeCount(ticket_type=t, places=int(counts.get(t.id, 0)))
            for t in edition.ticket_types
        ],
    )


@dataclass
class CapacityChange:
    quota: Quota
    changed: bool
    #: Waiting-list groups that were offered places because of this change.
    offers_sent: int


def _open_offer_ids(edition: Edition) -> set[int]:
    return set(
        db.session.scalars(
            select(WaitingListEntry.id).where(
                WaitingListEntry.edition_id == edition.id,
                WaitingListEntry.status == WaitingStatus.OFFERED,
            )
        )
    )


def set_capacity(edition: Edition, new_capacity: int, *, actor: str) -> CapacityChange:
    """Change the edition's capacity via ``change_capacity``; raising it offers places
    to the waiting list, lowering it below what is taken raises CapacityConflict."""
    quota = main_quota(edition)
    db.session.refresh(quota)
    if new_capacity == quota.capacity:
        return CapacityChange(quota=quota, changed=False, offers_sent=0)
    offered_before = _open_offer_ids(edition)
    quota = change_capacity(quota.id, new_capacity, actor=actor)
    offers_sent = len(_open_offer_ids(edition) - offered_before)
    return CapacityChange(quota=quota, changed=True, offers_sent=offers_sent)


# --- the registrant list --------------------------------------------------------


@dataclass
class Registrant:
    """One confirmed place as the registrant list and the CSV show it."""

    name: str
    email: str
    job_title: str
    dietary: str
    organisation: str
    ticket_type: str
    reference: str
    booker_name: str
    booker_email: str
    created_at: datetime


@dataclass
class RegistrantPage(Paged):
    registrants: list[Registrant]
    total: int
    page: int
    per_page: int


def search_words(query: str | None) -> list[str]:
    """The words of a search, at most MAX_SEARCH_WORDS, each at most 100 characters."""
    return [word[:100] for word in (query or "").split()][:MAX_SEARCH_WORDS]


def _like_pattern(word: str) -> str:
    # The searcher means the characters literally, not as LIKE wildcards.
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _registrant_filter(edition: Edition, query: str | None) -> ColumnElement[bool]:
    """Confirmed places of the edition where every search word matches some field."""
    conditions = _confirmed_attendees(edition.id)
    searched = (
        Attendee.name,
        Attendee.email,
        Order.organisation,
        Order.reference,
        Order.booker_name,
        Order.booker_email,
    )
    for word in search_words(query):
        pattern = _like_pattern(word)
        conditions.append(or_(*(column.ilike(pattern, escape="\\") for column in searched)))
    return and_(*conditions)


def _registrant_statement(edition: Edition, query: str | None, *, newest_first: bool):
    ordering = (
        (Order.created_at.desc(), Order.id.desc(), Attendee.id)
        if newest_first
        else (Order.created_at, Order.id, Attendee.id)
    )
    return (
        select(Attendee, Order, TicketType)
        .join(Attendee.order)
        .join(Attendee.ticket_type)
        .where(_registrant_filter(edition, query))
        .order_by(*ordering)
    )


def _to_registrant(row, language: str) -> Registrant:
    return Registrant(
        name=row.Attendee.name,
        email=row.Attendee.email,
        job_title=row.Attendee.job_title,
        dietary=row.Attendee.dietary,
        organisation=row.Order.organisation,
        ticket_type=row.TicketType.display_name(language),
        reference=row.Order.reference,
        booker_name=row.Order.booker_name,
        booker_email=row.Order.booker_email,
        created_at=row.Order.created_at,
    )


def search_registrants(
    edition: Edition,
    query: str | None,
    *,
    page: int = 1,
    per_page: int = REGISTRANTS_PER_PAGE,
    language: str = "da",
) -> RegistrantPage:
    """One page of the edition's confirmed places, newest first.

    The search matches each word, case-insensitively and anywhere in the text,
    against the attendee's name and e-mail, the organisation, the order
    reference and the booker's name and e-mail.
    """
    total = db.session.scalar(
        select(func.count(Attendee.id))
        .join(Attendee.order)
        .where(_registrant_filter(edition, query))
    )
    result = RegistrantPage(registrants=[], total=int(total or 0), page=1, per_page=per_page)
    result.page = min(max(page, 1), result.pages)
    statement = _registrant_statement(edition, query, newest_first=True)
    rows = db.session.execute(statement.limit(per_page).offset((result.page - 1) * per_page))
    result.registrants = [_to_registrant(row, language) for row in rows]
    return result


def registrants_csv(edition: Edition, query: str | None, *, language: str = "da") -> str:
    """The (searched) registrant list as CSV for Excel: BOM, semicolons, CRLF.

    Danish Excel splits on semicolons and needs the byte order mark to read
    UTF-8 (æøå); every cell is neutralised against formula injection.
    """
    statement = _registrant_statement(edition, query, newest_first=False)
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator=CSV_LINE_END)
    writer.writerow(
        [
            _("Name"),
            _("E-mail"),
            _("Job title"),
            _("Dietary needs"),
            _("Organisation"),
            _("Ticket type"),
            _("Order reference"),
            _("Booker"),
            _("Booker's e-mail"),
            _("Registered"),
        ]
    )
    for row in db.session.execute(statement):
        person = _to_registrant(row, language)
        registered = to_user_timezone(person.created_at).strftime("%Y-%m-%d %H:%M")
        writer.writerow(
            neutralise_cell(value)
            for value in (
                person.name,
                person.email,
                person.job_title,
                person.dietary,
                person.organisation,
                person.ticket_type,
                person.reference,
                person.booker_name,
                person.booker_email,
                registered,
            )
        )
    return buffer.getvalue()


@dataclass
class OrderFile:
    """An order with everything the organiser's order page shows."""

    order: Order
    documents: list[Invoice]
    refunds: list[Refund]


def order_file(edition: Edition, reference: str) -> OrderFile:
    """The order with this reference in the edition, its invoice and credit notes, its refunds."""
    order = db.session.scalar(
        select(Order).where(Order.edition_id == edition.id, Order.reference == reference.upper())
    )
    if order is None:
        raise NotFound(_("There is no order %(reference)s.", reference=reference))
    documents = list(
        db.session.scalars(select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.id))
    )
    refunds = list(
        db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
    )
    return OrderFile(order=order, documents=documents, refunds=refunds)


def attendee_of(order: Order, attendee_id: str) -> Attendee:
    """One attendee of the order, by the id a form sent; NotFound for anything else."""
    for attendee in order.attendees:
        if str(attendee.id) == str(attendee_id).strip():
            return attendee
    raise NotFound(_("This participant is not part of the order."))
