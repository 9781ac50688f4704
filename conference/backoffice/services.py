"""What the organiser's screens show and do: the dashboard figures, capacity
changes, the registrant list with its CSV export, and the exhibition hall's
setup, overview and exhibitor list.

Plain values in, plain values out; the views commit.
"""

from __future__ import annotations

import csv
import enum
import io
import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from babel.dates import format_skeleton
from babel.numbers import format_decimal
from flask_babel import gettext as _
from flask_babel import ngettext, to_user_timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from PIL import Image
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from conference.core.db import db, edition_row
from conference.core.errors import DomainError, NotFound
from conference.core.i18n import babel_locale, current_language
from conference.core.money import Amounts, format_dkk
from conference.core.paging import Paged
from conference.core.services import record_audit
from conference.core.spreadsheets import (
    CSV_BOM,
    CSV_DELIMITER,
    CSV_LINE_END,
    kroner_cell,
    neutralise_cell,
    text_cell,
)
from conference.events.models import Edition, Quota, TicketType
from conference.events.services import (
    change_capacity,
    claim_places,
    copenhagen_date,
    main_quota,
    release_places,
)
from conference.invoicing.accounting import credited_on_invoice, paid_on_invoice
from conference.invoicing.models import DocumentKind, Invoice, InvoicePayment
from conference.invoicing.services import (
    credit_lines,
    invoice_filename,
    invoice_for_order,
    issue_credit_note,
    issue_place_invoice,
    place_invoice,
)
from conference.mail.models import OutboxMessage, OutboxStatus
from conference.mail.services import invoice_attachment, queue_mail
from conference.payments.models import Refund
from conference.registration.models import (
    Attendee,
    AttendeeStatus,
    Order,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    WaitingListEntry,
    WaitingStatus,
)
from conference.registration.services import (
    BookingDetails,
    PlacedOrder,
    held_places,
    lock_confirmed_order,
    offer_free_places,
    place_order,
    waiting_list_summary,
)
from conference.stands.models import (
    AddonKind,
    BookingMode,
    Stand,
    StandAddon,
    StandBooking,
    StandBookingStatus,
    StandHall,
    StandPackage,
    StandStatus,
)
from conference.stands.services import booking_total, status_label
from conference.transfers.services import Colleague, email_domain, same_mailbox

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


@dataclass(frozen=True)
class Revenue:
    """An edition's sales by invoice (tickets and stands), without and with VAT.

    ``invoiced``: invoices less credit notes. ``paid``: payments recorded against
    the invoices. ``outstanding``: what the buyers still owe (no invoice below
    zero). The part without VAT of a payment is its invoice's share of it.
    """

    invoiced: Amounts
    paid: Amounts
    outstanding: Amounts


def _net_share(gross_part: int, net: int, gross: int) -> int:
    """The part without VAT of ``gross_part`` of a document whose totals are net/gross."""
    if gross <= 0:
        return 0
    return (gross_part * net * 2 + gross) // (gross * 2)


def edition_revenue(edition: Edition) -> Revenue:
    """Invoiced, paid and outstanding for the edition, live from its documents."""
    rows = db.session.execute(
        select(
            Invoice.net_ore,
            Invoice.total_ore,
            paid_on_invoice(),
            credited_on_invoice("net_ore"),
            credited_on_invoice("total_ore"),
        ).where(Invoice.edition_id == edition.id, Invoice.kind == DocumentKind.INVOICE)
    ).all()
    invoiced_net = invoiced_gross = paid_net = paid_gross = due_net = due_gross = 0
    for net, total, paid_ore, credit_net, credit_total in rows:
        net_left, gross_left = net - credit_net, total - credit_total
        invoiced_net += net_left
        invoiced_gross += gross_left
        paid_gross += paid_ore
        paid_net += _net_share(paid_ore, net, total)
        due = max(gross_left - paid_ore, 0)
        due_gross += due
        due_net += _net_share(due, net_left, gross_left)
    return Revenue(
        invoiced=Amounts(invoiced_net, invoiced_gross - invoiced_net),
        paid=Amounts(paid_net, paid_gross - paid_net),
        outstanding=Amounts(due_net, due_gross - due_net),
    )


@dataclass(frozen=True)
class ChartBar:
    """One bar of a chart and its place on the drawing.

    Across in per cent of the chart's width, down in CSS pixels: the chart takes
    the width it is given (a phone's or a wide screen's) while its text keeps
    its size, which a drawing scaled as a whole (a viewBox) would not.
    """

    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    #: Whether the bar's label is written under it (a column chart labels some days).
    labelled: bool = True
    #: A label a narrow screen leaves out, so the ones it shows do not overlap.
    minor: bool = False

    @property
    def label_anchor(self) -> str:
        """Where the label hangs from its x: near an edge it keeps inside the chart."""
        middle = self.x + self.width / 2
        return "start" if middle < 6 else "end" if middle > 94 else "middle"

    @property
    def label_x(self) -> float:
        anchor = self.label_anchor
        if anchor == "start":
            return self.x
        if anchor == "end":
            return round(self.x + self.width, 2)
        return round(self.x + self.width / 2, 2)


@dataclass(frozen=True)
class Chart:
    """A bar chart drawn by the template as inline SVG; ``bars`` carry the numbers too."""

    bars: list[ChartBar]
    #: The drawing's height in CSS pixels (its width is the page's).
    height: int
    max_value: int
    #: Values of the horizontal guide lines, with their height on the drawing.
    ticks: list[tuple[int, float]]

    @property
    def total(self) -> int:
        return sum(bar.value for bar in self.bars)


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


CHART_HEIGHT = 220
# Room above the top guide line for its value, and below the bars for the days.
CHART_TOP = 18
CHART_BOTTOM = 26
# About a dozen day labels fit a wide screen, five a phone (some of the same).
DAY_LABELS = 12
DAY_LABELS_NARROW = 5


def column_chart(points: list[tuple[str, int]]) -> Chart:
    """Vertical bars, one a point (e.g. a day), scaled to the largest value."""
    top = _nice_ceiling(max([value for _label, value in points] + [1]))
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    slot = 100 / max(len(points), 1)
    every = max(len(points) - 1, 0) // DAY_LABELS + 1
    # A phone shows every k-th of those labels, so its few are some of the same.
    every_narrow = every * max(math.ceil(len(points) / (DAY_LABELS_NARROW * every)), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        height = plot_height * value / top
        bars.append(
            ChartBar(
                label=label,
                value=value,
                x=round(index * slot + slot * 0.1, 2),
                y=round(CHART_TOP + plot_height - height, 2),
                width=round(slot * 0.8, 2),
                height=round(height, 2),
                labelled=index % every == 0,
                minor=index % every_narrow != 0,
            )
        )
    # Guide lines at whole numbers: top is 1, 2 or 5 times a power of ten.
    parts = top if top <= 5 else 5
    ticks = [
        (top * part // parts, round(CHART_TOP + plot_height - plot_height * part / parts, 2))
        for part in range(parts + 1)
    ]
    return Chart(bars=bars, height=CHART_HEIGHT, max_value=top, ticks=ticks)


# A row: the organisation's name, then its bar under it (a name beside its bar
# leaves a phone no room for the bar).
ROW_HEIGHT = 42
ROW_BAR_TOP = 19
ROW_BAR_HEIGHT = 14
# The longest bar leaves room after it for its number.
ROW_BAR_MAX = 88


def row_chart(points: list[tuple[str, int]]) -> Chart:
    """Horizontal bars, each under its label, the largest first as given."""
    top = max([value for _label, value in points] + [1])
    bars = [
        ChartBar(
            label=label,
            value=value,
            x=0,
            y=index * ROW_HEIGHT + ROW_BAR_TOP,
            width=round(max(ROW_BAR_MAX * value / top, 0.5), 2),
            height=ROW_BAR_HEIGHT,
        )
        for index, (label, value) in enumerate(points)
    ]
    return Chart(bars=bars, height=max(len(points), 1) * ROW_HEIGHT, max_value=top, ticks=[])


def _confirmed_places_query(edition: Edition):
    return (
        select(Order.created_at, Order.organisation, func.count(Attendee.id))
        .join(Attendee.order)
        .where(*_confirmed_attendees(edition.id))
        .group_by(Order.id, Order.created_at, Order.organisation)
    )


def registrations_per_day(edition: Edition, today: date | None = None) -> list[tuple[date, int]]:
    """Places confirmed per Copenhagen day, every day from the opening of registration
    to today (or the closing, if earlier), days without registrations included.

    Counted on the day the order was placed, for the places still confirmed.
    """
    opened = copenhagen_date(edition.registration_opens_at)
    last = min(today or copenhagen_date(), copenhagen_date(edition.registration_closes_at))
    per_day: dict[date, int] = {}
    for created_at, _organisation, places in db.session.execute(_confirmed_places_query(edition)):
        day = copenhagen_date(created_at)
        per_day[day] = per_day.get(day, 0) + int(places)
    if per_day:
        opened = min(opened, *per_day)
        last = max(last, *per_day)
    days = max((last - opened).days + 1, 0)
    return [
        (opened + timedelta(days=n), per_day.get(opened + timedelta(days=n), 0))
        for n in range(days)
    ]


TOP_ORGANISATIONS = 10


def top_organisations(edition: Edition, limit: int = TOP_ORGANISATIONS) -> list[tuple[str, int]]:
    """The organisations with most confirmed places, most first (then by name)."""
    rows = db.session.execute(
        select(Order.organisation, func.count(Attendee.id).label("places"))
        .join(Attendee.order)
        .where(*_confirmed_attendees(edition.id))
        .group_by(Order.organisation)
        .order_by(func.count(Attendee.id).desc(), Order.organisation)
        .limit(limit)
    ).all()
    return [(name, int(places)) for name, places in rows]


@dataclass(frozen=True)
class DashboardCharts:
    per_day: list[tuple[date, int]]
    per_day_chart: Chart
    organisations: list[tuple[str, int]]
    organisations_chart: Chart


def dashboard_charts(edition: Edition, language: str) -> DashboardCharts:
    """The two charts of the dashboard with the numbers they are drawn from."""
    per_day = registrations_per_day(edition)
    organisations = top_organisations(edition)
    locale = babel_locale(language)
    # The locale's own short day ("1. nov." in Danish, "1 Nov" in British English).
    labels = [(format_skeleton("dMMM", day, locale=locale), n) for day, n in per_day]
    return DashboardCharts(
        per_day=per_day,
        per_day_chart=column_chart(labels),
        organisations=organisations,
        organisations_chart=row_chart(organisations),
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
        # An invoice or credit note number finds its order.
        numbered = select(Invoice.order_id).where(
            Invoice.edition_id == edition.id, Invoice.number.ilike(pattern, escape="\\")
        )
        conditions.append(
            or_(
                *(column.ilike(pattern, escape="\\") for column in searched),
                Order.id.in_(numbered),
            )
        )
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


# --- registrants: finding an order by its documents ------------------------------


@dataclass
class DocumentHit:
    """An invoice or credit note whose number was searched for, and its order."""

    number: str
    is_credit_note: bool
    reference: str
    order_status: str


def orders_by_document(edition: Edition, query: str | None) -> list[DocumentHit]:
    """The edition's invoices and credit notes numbered like the search (any order
    status: a cancelled order is found by its credit note too)."""
    words = search_words(query)
    if len(words) != 1:
        return []
    rows = db.session.execute(
        select(Invoice.number, Invoice.kind, Order.reference, Order.status)
        .join(Order, Invoice.order_id == Order.id)
        .where(
            Invoice.edition_id == edition.id,
            Invoice.number.ilike(_like_pattern(words[0]), escape="\\"),
        )
        .order_by(Invoice.id)
        .limit(20)
    )
    return [
        DocumentHit(
            number=row.number,
            is_credit_note=row.kind == DocumentKind.CREDIT_NOTE,
            reference=row.reference,
            order_status=row.status,
        )
        for row in rows
    ]


# --- registrants: editing details -------------------------------------------------


class InvalidDetails(DomainError):
    """Details that break a rule; ``errors`` maps form field names to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())), field=next(iter(errors)))
        self.errors = errors


#: An attendee's details as the organiser types them: the same four a transfer takes.
PersonDetails = Colleague


@dataclass
class ContactDetails:
    """The booker's contact details."""

    name: str
    email: str
    phone: str


_PERSON_LIMITS = {"name": 200, "email": 254, "job_title": 200, "dietary": 300}
_CONTACT_LIMITS = {"name": 200, "email": 254, "phone": 40}


def _length_errors(values: dict[str, str], limits: dict[str, int]) -> dict[str, str]:
    errors = {}
    for name, limit in limits.items():
        if len(values[name]) > limit:
            errors[name] = _("This is too long (at most %(max)d characters).", max=limit)
    return errors


def _required_errors(values: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    errors = {name: _("This field is required.") for name in names if not values[name]}
    if "email" not in errors and not email_domain(values["email"]):
        errors["email"] = _("Enter a valid e-mail address.")
    return errors


def check_person(attendee: Attendee, details: PersonDetails) -> dict[str, str]:
    """Field errors of an attendee's new details, translated; empty when acceptable."""
    values = asdict(details)
    errors = {
        **_length_errors(values, _PERSON_LIMITS),
        **_required_errors(values, ("name", "email")),
    }
    if "email" not in errors:
        for other in attendee.order.active_attendees:
            if other.id != attendee.id and same_mailbox(other.email, details.email):
                errors["email"] = _(
                    "%(name)s in this order already has this e-mail address.", name=other.name
                )
                break
    return errors


def _place_changed() -> DomainError:
    return DomainError(_("The place has changed hands since you opened the page; look again."))


def edit_attendee(
    attendee: Attendee, details: PersonDetails, *, expected_version: int, actor: str
) -> dict[str, dict]:
    """Correct an attendee's name, e-mail, job title or dietary needs.

    The ticket stays valid (its code is unchanged: this is a correction, not a
    transfer). An issued invoice is a snapshot and keeps the details it was
    issued with. One conditional write on the place as the organiser saw it
    (``expected_version``): a transfer in between refuses the edit. Returns
    {"before": ..., "after": ...} of the fields that changed (empty: none did),
    as audited. Raises InvalidDetails (field errors) or DomainError.
    """
    details = details.cleaned()
    order = attendee.order
    if not lock_confirmed_order(order):
        raise DomainError(_("Only a confirmed registration can be changed."))
    db.session.refresh(attendee)
    if attendee.status != AttendeeStatus.CONFIRMED:
        raise DomainError(_("This place is cancelled."))
    if attendee.ticket_version != expected_version:
        raise _place_changed()
    errors = check_person(attendee, details)
    if errors:
        raise InvalidDetails(errors)
    after = asdict(details)
    before = {name: getattr(attendee, name) for name in after}
    changed = [name for name in after if before[name] != after[name]]
    if not changed:
        return {}
    result = db.session.execute(
        update(Attendee)
        .where(
            Attendee.id == attendee.id,
            Attendee.ticket_version == expected_version,
            Attendee.status == AttendeeStatus.CONFIRMED,
        )
        .values(**{name: after[name] for name in changed})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _place_changed()
    db.session.refresh(attendee)
    change = {
        "before": {name: before[name] for name in changed},
        "after": {name: after[name] for name in changed},
    }
    record_audit(actor, "attendee.edited", "attendee", attendee.id, order=order.reference, **change)
    return change


def edit_booker(order: Order, contact: ContactDetails, *, actor: str) -> dict[str, dict]:
    """Correct the booker's name, e-mail and phone (the order's contact, not the invoice's
    buyer; an issued invoice keeps what it says). Returns the audited change."""
    values = {
        "name": (contact.name or "").strip(),
        "email": (contact.email or "").strip(),
        "phone": (contact.phone or "").strip(),
    }
    errors = {
        **_length_errors(values, _CONTACT_LIMITS),
        **_required_errors(values, ("name", "email", "phone")),
    }
    if errors:
        raise InvalidDetails(errors)
    columns = {"name": "booker_name", "email": "booker_email", "phone": "booker_phone"}
    # The row lock first: two organisers editing at once save one after the other.
    db.session.execute(
        update(Order)
        .where(Order.id == order.id)
        .values(booker_name=Order.booker_name)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(order)
    before = {column: getattr(order, column) for column in columns.values()}
    after = {column: values[name] for name, column in columns.items()}
    changed = [column for column in after if before[column] != after[column]]
    if not changed:
        return {}
    for column in changed:
        setattr(order, column, after[column])
    db.session.flush()
    change = {
        "before": {column: before[column] for column in changed},
        "after": {column: after[column] for column in changed},
    }
    record_audit(
        actor, "order.booker_edited", "order", order.id, reference=order.reference, **change
    )
    return change


@dataclass
class SnapshotNotice:
    """An issued invoice that says something other than the order does now."""

    number: str
    fields: list[str]


def invoice_snapshot_notices(order: Order, documents: list[Invoice]) -> list[SnapshotNotice]:
    """The invoices (not credit notes) whose printed details differ from the order's now:
    the booker's name or e-mail, or a participant's name. They are never changed."""
    notices = []
    first = invoice_for_order(order)
    for invoice in documents:
        if invoice.is_credit_note:
            continue
        fields = []
        if invoice.buyer_contact != order.booker_name:
            fields.append(_("the booker's name"))
        if invoice.buyer_email != order.booker_email:
            fields.append(_("the booker's e-mail"))
        billed = [a for a in order.active_attendees if (a.invoice_id or first.id) == invoice.id]
        if any(a.name not in (invoice.note or "") for a in billed):
            fields.append(_("participants' names"))
        if fields:
            notices.append(SnapshotNotice(number=invoice.number, fields=fields))
    return notices


# --- registrants: registering on someone's behalf -----------------------------------


class RequestChannel(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    OTHER = "other"


def register_on_behalf(
    edition: Edition, details: BookingDetails, *, actor: str, channel: str
) -> PlacedOrder:
    """Place an order for a booker who asked by phone or e-mail, also outside the public
    registration window; paid by invoice.

    The places are claimed exactly like a public registration's (the conditional
    write: never oversold), the order is audited with the organiser as actor and
    the booker and attendees get the usual e-mails. Raises InvalidBooking,
    NotEnoughPlaces (nothing written).
    """
    details.payment_method = PaymentMethod.INVOICE.value
    placed = place_order(edition, details, actor=actor, any_time=True)
    record_audit(
        actor,
        "order.registered_on_behalf",
        "order",
        placed.order.id,
        reference=placed.order.reference,
        channel=RequestChannel(channel).value,
    )
    return placed


# --- registrants: moving a place to another ticket type ------------------------------


class TicketTypeFull(DomainError):
    """The ticket type's quota has no free place."""


@dataclass
class PlaceMove:
    attendee: Attendee
    old_type: TicketType
    new_type: TicketType
    credit_note: Invoice | None
    invoice: Invoice | None


def movable_ticket_types(attendee: Attendee) -> list[TicketType]:
    """The edition's other ticket types a place may move to."""
    return [t for t in attendee.order.edition.ticket_types if t.id != attendee.ticket_type_id]


def move_attendee(
    attendee: Attendee,
    new_type: TicketType,
    *,
    expected_version: int,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
) -> PlaceMove:
    """Move a place to another ticket type of the edition.

    A type on another quota gets its place by the conditional write (refused
    with TicketTypeFull when it has none) and the old quota's place is freed for
    the waiting list; types sharing a quota keep the place they have. When the
    price differs, the old place is credited on the invoice billing it and the
    new one billed on an invoice of its own: no issued document changes. The
    ticket keeps its code, so it stays valid at the door. The booker is told,
    with the new documents attached.
    """
    order = attendee.order
    old_type = attendee.ticket_type
    if new_type.edition_id != order.edition_id or new_type.id == old_type.id:
        raise DomainError(_("Choose another ticket type of this edition."), field="ticket_type_id")
    # Lock order as everywhere: the order row, the quota, the number series.
    if not lock_confirmed_order(order):
        raise DomainError(_("Only a confirmed registration can be changed."))
    db.session.refresh(attendee)
    if attendee.status != AttendeeStatus.CONFIRMED:
        raise DomainError(_("This place is cancelled."))
    if attendee.ticket_version != expected_version:
        raise _place_changed()
    price_changes = (attendee.unit_price_net_ore, attendee.vat_percent) != (
        new_type.price_net_ore,
        new_type.vat_percent,
    )
    if price_changes and order.payment_method == PaymentMethod.CARD:
        raise DomainError(
            _(
                "This order was paid by card, so the place cannot move to a ticket type at "
                "another price. Cancel the place (it is refunded) and register it again."
            ),
            field="ticket_type_id",
        )
    if new_type.quota_id != old_type.quota_id:
        if not claim_places(new_type.quota_id, 1):
            raise TicketTypeFull(
                _(
                    "%(type)s is full: there is no free place to move to. Raise its capacity "
                    "or choose another ticket type.",
                    type=new_type.display_name(order.language),
                ),
                field="ticket_type_id",
            )
        release_places(old_type.quota_id, 1)

    credit_note = None
    old_invoice = place_invoice(attendee) if price_changes and attendee.unit_price_net_ore else None
    if old_invoice is not None:
        # Priced as the place was invoiced: read before the place changes.
        credit_note = issue_credit_note(
            old_invoice,
            credit_lines(old_invoice, order, [attendee], whole=False),
            order=order,
            reason=reason
            or _(
                "%(name)s moved to %(type)s.",
                name=attendee.name,
                type=new_type.display_name(order.language),
            ),
            now=now,
            actor=actor,
        )
    before = {
        "ticket_type": old_type.name,
        "unit_price_net_ore": attendee.unit_price_net_ore,
        "vat_percent": attendee.vat_percent,
    }
    result = db.session.execute(
        update(Attendee)
        .where(
            Attendee.id == attendee.id,
            Attendee.ticket_version == expected_version,
            Attendee.status == AttendeeStatus.CONFIRMED,
        )
        .values(
            ticket_type_id=new_type.id,
            unit_price_net_ore=new_type.price_net_ore,
            vat_percent=new_type.vat_percent,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _place_changed()
    db.session.refresh(attendee)
    invoice = None
    if price_changes and new_type.price_net_ore:
        invoice = issue_place_invoice(order, [attendee], now=now, actor=actor)
        attendee.invoice_id = invoice.id
        order.payment_status = PaymentStatus.INVOICED
    elif price_changes:
        attendee.invoice_id = None
    db.session.flush()
    record_audit(
        actor,
        "attendee.moved",
        "attendee",
        attendee.id,
        order=order.reference,
        before=before,
        after={
            "ticket_type": new_type.name,
            "unit_price_net_ore": new_type.price_net_ore,
            "vat_percent": new_type.vat_percent,
        },
        credit_note=credit_note.number if credit_note else None,
        invoice=invoice.number if invoice else None,
    )
    message = queue_mail(
        "place_moved",
        order.booker_email,
        "place_moved",
        order.language,
        order_id=order.id,
        order=order,
        edition=order.edition,
        attendee=attendee,
        old_type=old_type,
        new_type=new_type,
        credit_note=credit_note,
        invoice=invoice,
    )
    message.attachments = [
        invoice_attachment(document.id, invoice_filename(document))
        for document in (credit_note, invoice)
        if document is not None
    ]
    if new_type.quota_id != old_type.quota_id:
        offer_free_places(order.edition, now=now)
    return PlaceMove(attendee, old_type, new_type, credit_note, invoice)


# --- registrants: the order's e-mails and sending them again --------------------------


def order_messages(order: Order) -> list[OutboxMessage]:
    """Every outbox message about the order, oldest first (not rendered: the list
    shows kind, recipient and status)."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.order_id == order.id)
            .order_by(OutboxMessage.id)
        )
    )


def mail_kind_label(kind: str) -> str:
    """What an outbox message is, in words."""
    return {
        "order_confirmation": _("Confirmation"),
        "ticket": _("Ticket"),
        "order_cancelled": _("Cancellation"),
        "place_cancelled": _("Place cancelled"),
        "place_moved": _("Ticket type changed"),
        "transfer_ticket": _("Ticket after transfer"),
        "transfer_confirmation": _("Transfer confirmation"),
        "transfer_declined": _("Transfer declined"),
        "payment_refunded_no_place": _("Refund, no place"),
    }.get(kind, kind)


def mail_status_label(status: str) -> str:
    return {
        OutboxStatus.PENDING: _("Waiting to be sent"),
        OutboxStatus.SENT: _("Sent"),
        OutboxStatus.FAILED: _("Failed"),
    }.get(status, status)


# --- registrants: exports for the venue and for chasing payment -----------------------


class ExportList(enum.StrEnum):
    PARTICIPANTS = "participants"
    DIETARY = "dietary"
    UNPAID = "unpaid"


def export_list_label(name: str) -> str:
    return {
        ExportList.PARTICIPANTS: _("All participants"),
        ExportList.DIETARY: _("Participants with dietary needs (for the venue)"),
        ExportList.UNPAID: _("Unpaid: orders whose invoice is outstanding"),
    }.get(name, name)


def edition_organisations(edition: Edition) -> list[str]:
    """The organisations with confirmed places, alphabetically (the export's filter)."""
    return list(
        db.session.scalars(
            select(Order.organisation)
            .join(Attendee, Attendee.order_id == Order.id)
            .where(*_confirmed_attendees(edition.id))
            .distinct()
            .order_by(Order.organisation)
        )
    )


@dataclass
class ExportTable:
    """An export as header and rows; a cell is text, or an amount in øre (``int``)."""

    title: str
    header: list[str]
    rows: list[list[str | int]]


def _participant_table(
    edition: Edition, organisation: str | None, *, dietary: bool, language: str
) -> ExportTable:
    statement = (
        select(Attendee, Order, TicketType)
        .join(Attendee.order)
        .join(Attendee.ticket_type)
        .where(*_confirmed_attendees(edition.id))
        .order_by(Order.organisation, Attendee.name, Attendee.id)
    )
    if organisation:
        statement = statement.where(Order.organisation == organisation)
    if dietary:
        statement = statement.where(func.trim(Attendee.dietary) != "")
    rows = [
        [
            row.Attendee.name,
            row.Attendee.dietary,
            row.Order.organisation,
            row.Attendee.job_title,
            row.Attendee.email,
            row.TicketType.display_name(language),
            row.Order.reference,
        ]
        for row in db.session.execute(statement)
    ]
    header = [
        _("Name"),
        _("Dietary needs"),
        _("Organisation"),
        _("Job title"),
        _("E-mail"),
        _("Ticket type"),
        _("Order reference"),
    ]
    title = _("Dietary needs") if dietary else _("Participants")
    return ExportTable(title=title, header=header, rows=rows)


def _unpaid_table(edition: Edition, organisation: str | None) -> ExportTable:
    credited = dict(
        db.session.execute(
            select(Invoice.credited_invoice_id, func.sum(Invoice.total_ore))
            .where(Invoice.edition_id == edition.id, Invoice.credited_invoice_id.is_not(None))
            .group_by(Invoice.credited_invoice_id)
        ).all()
    )
    paid = dict(
        db.session.execute(
            select(InvoicePayment.invoice_id, func.sum(InvoicePayment.amount_ore))
            .join(Invoice, InvoicePayment.invoice_id == Invoice.id)
            .where(Invoice.edition_id == edition.id)
            .group_by(InvoicePayment.invoice_id)
        ).all()
    )
    statement = (
        select(Invoice, Order)
        .join(Order, Invoice.order_id == Order.id)
        .where(Invoice.edition_id == edition.id, Invoice.kind == DocumentKind.INVOICE)
        .order_by(Invoice.due_on, Invoice.id)
    )
    if organisation:
        statement = statement.where(Order.organisation == organisation)
    rows: list[list[str | int]] = []
    for invoice, order in db.session.execute(statement):
        due = (
            invoice.total_ore - int(paid.get(invoice.id) or 0) - int(credited.get(invoice.id) or 0)
        )
        if due <= 0:
            continue
        rows.append(
            [
                invoice.number,
                invoice.issued_on.isoformat(),
                invoice.due_on.isoformat() if invoice.due_on else "",
                order.reference,
                order.organisation,
                order.booker_name,
                order.booker_email,
                order.booker_phone,
                invoice.buyer_ean or "",
                invoice.total_ore,
                due,
            ]
        )
    header = [
        _("Invoice"),
        _("Issued"),
        _("Due"),
        _("Order reference"),
        _("Organisation"),
        _("Booker"),
        _("E-mail"),
        _("Phone"),
        _("EAN location number"),
        _("Incl. VAT (kr.)"),
        _("Outstanding (kr.)"),
    ]
    return ExportTable(title=_("Unpaid"), header=header, rows=rows)


def export_table(
    edition: Edition, list_name: str, organisation: str | None = None, *, language: str = "da"
) -> ExportTable:
    """One of the registrant exports, filtered to one organisation if given."""
    kind = ExportList(list_name)
    organisation = (organisation or "").strip() or None
    if kind is ExportList.UNPAID:
        return _unpaid_table(edition, organisation)
    return _participant_table(
        edition, organisation, dietary=kind is ExportList.DIETARY, language=language
    )


def export_csv(table: ExportTable) -> str:
    """An export as CSV for Danish Excel: BOM, semicolons, CRLF, text neutralised."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator=CSV_LINE_END)
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow(
            _kroner_cell(cell) if isinstance(cell, int) else neutralise_cell(cell) for cell in row
        )
    return buffer.getvalue()


def export_xlsx(table: ExportTable) -> bytes:
    """An export as an Excel workbook: amounts as numbers in kroner, text as string cells
    (never formulas, so ``=HYPERLINK(...)`` is shown, not run)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.title[:31])
    sheet.freeze_panes = "A2"
    for index in range(len(table.header)):
        sheet.column_dimensions[chr(ord("A") + index)].width = 24
    bold = Font(bold=True)

    def cell(value: str | int, font: Font | None = None) -> WriteOnlyCell:
        if isinstance(value, int):
            return kroner_cell(sheet, value)
        return text_cell(sheet, value, font)

    sheet.append([cell(title, bold) for title in table.header])
    for row in table.rows:
        sheet.append([cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- the exhibition hall: setup ---------------------------------------------------
#
# The organiser defines the hall, its packages, add-ons and stands here; the
# stand domain operations (booking, approving, moving, cancelling) live in
# conference.stands.services. Setup never changes what a booking holds: a stand
# that is or was booked keeps its code, package and size, and nothing that was
# ever booked is deleted.

#: The largest hall we draw: half a kilometre each way, in centimetres.
MAX_HALL_CM = 50_000
#: The background picture under the plan: PNG or JPEG, at most this many bytes ...
MAX_BACKGROUND_BYTES = 2 * 1024 * 1024
#: ... and at most this many pixels each way (a small file can unpack to a huge image).
MAX_BACKGROUND_PIXELS = 8_000
BACKGROUND_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
#: A price above this (in øre) is a typo: 10 million kroner.
MAX_PRICE_ORE = 1_000_000_000
MAX_INCLUDED_PASSES = 50
MAX_ADDON_QUANTITY = 100


class StandSetupError(DomainError):
    """A setup change the rules refuse; ``field`` names the form field to show it at."""


class InvalidImage(StandSetupError):
    """The uploaded background is not a PNG or JPEG we accept."""


class StandInUse(StandSetupError):
    """The stand, package or add-on is (or was) booked, so it cannot be changed or deleted."""


@dataclass
class HallSettings:
    """The hall of an edition as the organiser sets it. Sizes in centimetres,
    ``staff_deadline`` in naive UTC."""

    name: str
    width_cm: int
    depth_cm: int
    booking_mode: str
    terms: str
    terms_en: str | None
    staff_deadline: datetime | None
    bookings_open: bool


@dataclass
class PackageDetails:
    name: str
    name_en: str | None
    price_net_ore: int
    included_passes: int
    includes: str
    includes_en: str | None


@dataclass
class AddonDetails:
    kind: str
    name: str
    name_en: str | None
    price_net_ore: int
    max_quantity: int
    is_active: bool


@dataclass
class StandDetails:
    """One stand: its code and where it is on the plan, in centimetres."""

    code: str
    x_cm: int
    y_cm: int
    width_cm: int
    depth_cm: int
    package_id: int
    note: str = ""


def existing_hall(edition: Edition) -> StandHall | None:
    """The edition's hall, or None when the organiser has not set one up yet."""
    return db.session.scalar(select(StandHall).where(StandHall.edition_id == edition.id))


def _hall_bounds(edition: Edition) -> tuple[int, int]:
    hall = existing_hall(edition)
    if hall is None:
        # The model's defaults: what the hall becomes when it is first saved.
        return (
            StandHall.__table__.c.width_cm.default.arg,
            StandHall.__table__.c.depth_cm.default.arg,
        )
    return hall.width_cm, hall.depth_cm


def _edition_stands(edition: Edition) -> list[Stand]:
    return list(
        db.session.scalars(select(Stand).where(Stand.edition_id == edition.id).order_by(Stand.code))
    )


def save_hall(edition: Edition, settings: HallSettings, *, actor: str) -> StandHall:
    """Create or change the edition's hall. Refused when a stand would lie outside it."""
    if settings.booking_mode not in {mode.value for mode in BookingMode}:
        raise StandSetupError(_("Choose how bookings are confirmed."), field="booking_mode")
    for field, value in (("width", settings.width_cm), ("depth", settings.depth_cm)):
        if not 0 < value <= MAX_HALL_CM:
            raise StandSetupError(
                _("Enter a size from 0,01 to %(max)d metres.", max=MAX_HALL_CM // 100), field=field
            )
    if not settings.terms.strip():
        raise StandSetupError(_("Enter the exhibitor terms in Danish."), field="terms")
    for stand in _edition_stands(edition):
        if (
            stand.x_cm + stand.width_cm > settings.width_cm
            or stand.y_cm + stand.depth_cm > settings.depth_cm
        ):
            raise StandSetupError(
                _(
                    "Stand %(code)s would lie outside the hall. Move it first or make the hall "
                    "larger.",
                    code=stand.code,
                ),
                field="width" if stand.x_cm + stand.width_cm > settings.width_cm else "depth",
            )
    hall = existing_hall(edition)
    created = hall is None
    if hall is None:
        hall = StandHall(edition_id=edition.id)
        db.session.add(hall)
    hall.name = settings.name.strip()
    hall.width_cm = settings.width_cm
    hall.depth_cm = settings.depth_cm
    hall.booking_mode = settings.booking_mode
    hall.terms = settings.terms.strip()
    hall.terms_en = (settings.terms_en or "").strip() or None
    hall.staff_deadline = settings.staff_deadline
    hall.bookings_open = settings.bookings_open
    db.session.flush()
    record_audit(
        actor,
        "stand_hall.created" if created else "stand_hall.changed",
        "stand_hall",
        hall.id,
        name=hall.name,
        width_cm=hall.width_cm,
        depth_cm=hall.depth_cm,
        booking_mode=hall.booking_mode,
        staff_deadline=hall.staff_deadline.isoformat() if hall.staff_deadline else None,
        bookings_open=hall.bookings_open,
    )
    return hall


def checked_background(data: bytes) -> str:
    """The content type of an acceptable background picture; InvalidImage otherwise.

    Pillow reads the file itself: the name and the browser's content type are
    the uploader's word only.
    """
    if not data:
        raise InvalidImage(_("Choose a picture to upload."), field="background")
    if len(data) > MAX_BACKGROUND_BYTES:
        raise InvalidImage(
            _(
                "The picture is too large: at most %(mb)d MB.",
                mb=MAX_BACKGROUND_BYTES // (1024 * 1024),
            ),
            field="background",
        )
    not_an_image = InvalidImage(_("The file is not a PNG or JPEG picture."), field="background")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            width, height = image.size
            image.verify()
        # verify() checks the structure; loading the pixels finds a truncated file.
        with Image.open(io.BytesIO(data)) as image:
            if width <= MAX_BACKGROUND_PIXELS and height <= MAX_BACKGROUND_PIXELS:
                image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise not_an_image from None
    if kind not in BACKGROUND_TYPES:
        raise not_an_image
    if width > MAX_BACKGROUND_PIXELS or height > MAX_BACKGROUND_PIXELS:
        raise InvalidImage(
            _(
                "The picture is too large: at most %(max)d pixels each way.",
                max=MAX_BACKGROUND_PIXELS,
            ),
            field="background",
        )
    return BACKGROUND_TYPES[kind]


def set_hall_background(hall: StandHall, data: bytes, *, actor: str) -> None:
    """Put a PNG or JPEG (checked with Pillow, size-limited) under the hall's plan."""
    hall.background_type = checked_background(data)
    hall.background = data
    record_audit(
        actor,
        "stand_hall.background_set",
        "stand_hall",
        hall.id,
        bytes=len(data),
        content_type=hall.background_type,
    )


def remove_hall_background(hall: StandHall, *, actor: str) -> None:
    """Take the picture away from under the plan."""
    if hall.background_type is None:
        return
    hall.background = None
    hall.background_type = None
    record_audit(actor, "stand_hall.background_removed", "stand_hall", hall.id)


def edition_packages(edition: Edition) -> list[StandPackage]:
    return list(
        db.session.scalars(
            select(StandPackage)
            .where(StandPackage.edition_id == edition.id)
            .order_by(StandPackage.sort_order, StandPackage.price_net_ore, StandPackage.id)
        )
    )


def edition_addons(edition: Edition) -> list[StandAddon]:
    return list(
        db.session.scalars(
            select(StandAddon)
            .where(StandAddon.edition_id == edition.id)
            .order_by(StandAddon.sort_order, StandAddon.kind, StandAddon.id)
        )
    )


def get_package(edition: Edition, package_id: int) -> StandPackage:
    return edition_row(StandPackage, package_id, edition.id, _("There is no such package."))


def get_addon(edition: Edition, addon_id: int) -> StandAddon:
    return edition_row(StandAddon, addon_id, edition.id, _("There is no such add-on."))


def get_stand(edition: Edition, stand_id: int) -> Stand:
    return edition_row(Stand, stand_id, edition.id, _("There is no such stand."))


def _check_price(price_net_ore: int) -> None:
    if not 0 <= price_net_ore <= MAX_PRICE_ORE:
        raise StandSetupError(
            _("Enter a price from 0 to %(max)s.", max=format_dkk(MAX_PRICE_ORE)), field="price"
        )


def save_package(
    edition: Edition,
    details: PackageDetails,
    *,
    actor: str,
    package: StandPackage | None = None,
) -> StandPackage:
    """Create a package, or change ``package``. A booking keeps the package as it
    was sold (its own snapshot), so a new price applies to new bookings only."""
    if not details.name.strip():
        raise StandSetupError(_("Enter the package's name."), field="name")
    _check_price(details.price_net_ore)
    if not 0 <= details.included_passes <= MAX_INCLUDED_PASSES:
        raise StandSetupError(
            _("Enter a number from %(min)d to %(max)d.", min=0, max=MAX_INCLUDED_PASSES),
            field="included_passes",
        )
    created = package is None
    if package is None:
        package = StandPackage(edition_id=edition.id)
        db.session.add(package)
    package.name = details.name.strip()
    package.name_en = (details.name_en or "").strip() or None
    package.price_net_ore = details.price_net_ore
    package.included_passes = details.included_passes
    package.includes = details.includes.strip()
    package.includes_en = (details.includes_en or "").strip() or None
    db.session.flush()
    record_audit(
        actor,
        "stand_package.created" if created else "stand_package.changed",
        "stand_package",
        package.id,
        name=package.name,
        price_net_ore=package.price_net_ore,
        included_passes=package.included_passes,
    )
    return package


def delete_package(package: StandPackage, *, actor: str) -> None:
    """Delete a package no stand uses (a booked stand always keeps its package)."""
    codes = db.session.scalars(
        select(Stand.code).where(Stand.package_id == package.id).order_by(Stand.code)
    ).all()
    if codes:
        raise StandInUse(
            _(
                "The package cannot be deleted: stands %(codes)s have it. Give them another "
                "package first.",
                codes=", ".join(codes),
            )
        )
    record_audit(actor, "stand_package.deleted", "stand_package", package.id, name=package.name)
    db.session.delete(package)
    db.session.flush()


def save_addon(
    edition: Edition,
    details: AddonDetails,
    *,
    actor: str,
    addon: StandAddon | None = None,
) -> StandAddon:
    """Create an add-on, or change ``addon``. Bookings keep what they ordered at the
    price of the day; an inactive add-on is no longer offered."""
    if details.kind not in {kind.value for kind in AddonKind}:
        raise StandSetupError(_("Choose a kind."), field="kind")
    if not details.name.strip():
        raise StandSetupError(_("Enter the add-on's name."), field="name")
    _check_price(details.price_net_ore)
    if not 1 <= details.max_quantity <= MAX_ADDON_QUANTITY:
        raise StandSetupError(
            _("Enter a number from %(min)d to %(max)d.", min=1, max=MAX_ADDON_QUANTITY),
            field="max_quantity",
        )
    created = addon is None
    if addon is None:
        addon = StandAddon(edition_id=edition.id)
        db.session.add(addon)
    addon.kind = details.kind
    addon.name = details.name.strip()
    addon.name_en = (details.name_en or "").strip() or None
    addon.price_net_ore = details.price_net_ore
    addon.max_quantity = details.max_quantity
    addon.is_active = details.is_active
    db.session.flush()
    record_audit(
        actor,
        "stand_addon.created" if created else "stand_addon.changed",
        "stand_addon",
        addon.id,
        kind=addon.kind,
        name=addon.name,
        price_net_ore=addon.price_net_ore,
        max_quantity=addon.max_quantity,
        is_active=addon.is_active,
    )
    return addon


def _bookings_with_addon(addon: StandAddon) -> list[str]:
    """References of the bookings that ordered this add-on (it lives in their JSON)."""
    bookings = db.session.scalars(
        select(StandBooking).where(StandBooking.edition_id == addon.edition_id)
    )
    return [
        booking.reference
        for booking in bookings
        if any(item.get("addon_id") == addon.id for item in booking.addons or [])
    ]


def delete_addon(addon: StandAddon, *, actor: str) -> None:
    """Delete an add-on no booking ever ordered; otherwise make it inactive instead."""
    if _bookings_with_addon(addon):
        raise StandInUse(
            _(
                "The add-on has been ordered, so it cannot be deleted. Untick “Offered” to stop "
                "selling it."
            )
        )
    record_audit(actor, "stand_addon.deleted", "stand_addon", addon.id, name=addon.name)
    db.session.delete(addon)
    db.session.flush()


def was_ever_booked(stand: Stand) -> bool:
    """Whether any booking (of any status) has had this stand."""
    return (
        db.session.scalar(
            select(func.count(StandBooking.id)).where(StandBooking.stand_id == stand.id)
        )
        or 0
    ) > 0


def _check_stand(edition: Edition, details: StandDetails, stand: Stand | None) -> str:
    code = details.code.strip().upper()
    if not code:
        raise StandSetupError(_("Enter the stand's code."), field="code")
    if len(code) > 20 or not all(ch.isalnum() or ch in "-." for ch in code):
        raise StandSetupError(
            _("Use at most 20 letters, digits, dots or hyphens, like A12."), field="code"
        )
    if details.width_cm <= 0:
        raise StandSetupError(_("Enter a width above 0."), field="width")
    if details.depth_cm <= 0:
        raise StandSetupError(_("Enter a depth above 0."), field="depth")
    if details.x_cm < 0 or details.y_cm < 0:
        raise StandSetupError(
            _("The position is measured from the hall's top left corner, from 0."),
            field="x" if details.x_cm < 0 else "y",
        )
    hall_width, hall_depth = _hall_bounds(edition)
    if details.x_cm + details.width_cm > hall_width:
        raise StandSetupError(
            _("The stand reaches past the hall's width (%(metres)s m).", metres=metres(hall_width)),
            field="width",
        )
    if details.y_cm + details.depth_cm > hall_depth:
        raise StandSetupError(
            _("The stand reaches past the hall's depth (%(metres)s m).", metres=metres(hall_depth)),
            field="depth",
        )
    package = db.session.get(StandPackage, details.package_id)
    if package is None or package.edition_id != edition.id:
        raise StandSetupError(_("Choose a package."), field="package_id")
    for other in _edition_stands(edition):
        if stand is not None and other.id == stand.id:
            continue
        if other.code == code:
            raise StandSetupError(_("There is already a stand %(code)s.", code=code), field="code")
        overlaps = (
            details.x_cm < other.x_cm + other.width_cm
            and other.x_cm < details.x_cm + details.width_cm
            and details.y_cm < other.y_cm + other.depth_cm
            and other.y_cm < details.y_cm + details.depth_cm
        )
        if overlaps:
            raise StandSetupError(
                _("The stand would overlap stand %(code)s.", code=other.code), field="x"
            )
    return code


def save_stand(
    edition: Edition,
    details: StandDetails,
    *,
    actor: str,
    stand: Stand | None = None,
) -> Stand:
    """Create a stand, or change ``stand``.

    A stand that is or was booked keeps its code, package and size: they are
    what the exhibitor bought and what the invoice says. Those changes are
    written conditionally on the stand still being free and unbooked, so a
    booking that lands while the organiser edits wins, and the edit is refused.
    Moving a booked stand on the plan is allowed.
    """
    code = _check_stand(edition, details, stand)
    if stand is None:
        stand = Stand(
            edition_id=edition.id,
            code=code,
            x_cm=details.x_cm,
            y_cm=details.y_cm,
            width_cm=details.width_cm,
            depth_cm=details.depth_cm,
            package_id=details.package_id,
            note=details.note.strip(),
        )
        db.session.add(stand)
        try:
            with db.session.begin_nested():
                db.session.flush()
        except IntegrityError:
            # Someone added the same code a moment ago.
            raise StandSetupError(
                _("There is already a stand %(code)s.", code=code), field="code"
            ) from None
        record_audit(
            actor,
            "stand.created",
            "stand",
            stand.id,
            code=code,
            package_id=details.package_id,
            x_cm=details.x_cm,
            y_cm=details.y_cm,
            width_cm=details.width_cm,
            depth_cm=details.depth_cm,
        )
        return stand

    sold_terms_change = (
        code != stand.code
        or details.package_id != stand.package_id
        or details.width_cm != stand.width_cm
        or details.depth_cm != stand.depth_cm
    )
    if sold_terms_change:
        if was_ever_booked(stand):
            raise StandInUse(_booked_refusal(stand), field="package_id")
        result = db.session.execute(
            update(Stand)
            .where(
                Stand.id == stand.id,
                Stand.status == StandStatus.FREE,
                Stand.booking_id.is_(None),
            )
            .values(
                code=code,
                package_id=details.package_id,
                width_cm=details.width_cm,
                depth_cm=details.depth_cm,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise StandInUse(_booked_refusal(stand), field="package_id")
    db.session.execute(
        update(Stand)
        .where(Stand.id == stand.id)
        .values(x_cm=details.x_cm, y_cm=details.y_cm, note=details.note.strip())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(stand)
    record_audit(
        actor,
        "stand.changed",
        "stand",
        stand.id,
        code=stand.code,
        package_id=stand.package_id,
        x_cm=stand.x_cm,
        y_cm=stand.y_cm,
        width_cm=stand.width_cm,
        depth_cm=stand.depth_cm,
    )
    return stand


def _booked_refusal(stand: Stand) -> str:
    return _(
        "Stand %(code)s has been booked, so its code, package and size stay as they were "
        "sold. Move the exhibitor to another stand or cancel the booking first.",
        code=stand.code,
    )


def delete_stand(stand: Stand, *, actor: str) -> None:
    """Delete a stand that was never booked (a booking keeps its stand for the record).

    One conditional DELETE: a booking that lands at the same moment wins.
    """
    if was_ever_booked(stand):
        raise StandInUse(
            _(
                "Stand %(code)s has been booked, so it cannot be deleted: the booking and its "
                "invoice refer to it.",
                code=stand.code,
            )
        )
    code = stand.code
    stand_id = stand.id
    result = db.session.execute(
        delete(Stand)
        .where(
            Stand.id == stand_id,
            Stand.status == StandStatus.FREE,
            Stand.booking_id.is_(None),
            ~select(StandBooking.id).where(StandBooking.stand_id == stand_id).exists(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise StandInUse(
            _("Stand %(code)s was booked a moment ago, so it cannot be deleted.", code=code)
        )
    db.session.expunge(stand)
    record_audit(actor, "stand.deleted", "stand", stand_id, code=code)


def metres(cm: int, language: str | None = None) -> str:
    """Centimetres as metres the local way: 250 -> "2,5" in Danish, "2.5" in English."""
    return format_decimal(
        Decimal(cm).scaleb(-2), "#,##0.##", locale=babel_locale(language or current_language())
    )


# --- the exhibition hall: the organiser's overview and the exhibitor list ----------


@dataclass
class BookingLine:
    """A booking as the organiser's lists and the export show it."""

    booking: StandBooking
    #: Invoiced less credited when there are invoices; else what was ordered.
    amounts: Amounts
    documents: list[Invoice]

    @property
    def invoiced(self) -> bool:
        return any(not document.is_credit_note for document in self.documents)


@dataclass
class StandLine:
    stand: Stand
    #: The booking holding the stand now (requested or confirmed), if any.
    holder: BookingLine | None


@dataclass
class StandsOverview:
    edition: Edition
    hall: StandHall | None
    stands: list[StandLine]
    #: Every booking of the edition, requests first, then the newest.
    bookings: list[BookingLine]

    @property
    def free_stands(self) -> list[Stand]:
        return [line.stand for line in self.stands if line.stand.status == StandStatus.FREE]

    def count(self, status: str) -> int:
        return sum(1 for line in self.stands if line.stand.status == status)

    @property
    def requests(self) -> list[BookingLine]:
        return [b for b in self.bookings if b.booking.status == StandBookingStatus.REQUESTED]


def ordered_amounts(booking: StandBooking) -> Amounts:
    """What the booking ordered: the package and its add-ons, VAT per rate (as invoiced)."""
    return booking_total(booking)


def _documents_by_booking(edition: Edition) -> dict[int, list[Invoice]]:
    documents: dict[int, list[Invoice]] = {}
    for document in db.session.scalars(
        select(Invoice)
        .where(Invoice.edition_id == edition.id, Invoice.stand_booking_id.is_not(None))
        .order_by(Invoice.id)
    ):
        documents.setdefault(document.stand_booking_id, []).append(document)
    return documents


def _booking_line(booking: StandBooking, documents: list[Invoice]) -> BookingLine:
    if any(not document.is_credit_note for document in documents):
        sign = {True: -1, False: 1}
        amounts = Amounts(
            net_ore=sum(sign[d.is_credit_note] * d.net_ore for d in documents),
            vat_ore=sum(sign[d.is_credit_note] * d.vat_ore for d in documents),
        )
    else:
        amounts = ordered_amounts(booking)
    return BookingLine(booking=booking, amounts=amounts, documents=documents)


_BOOKING_ORDER = {
    StandBookingStatus.REQUESTED: 0,
    StandBookingStatus.CONFIRMED: 1,
    StandBookingStatus.DECLINED: 2,
    StandBookingStatus.CANCELLED: 2,
}


@dataclass(frozen=True)
class StandCounts:
    """How the exhibition is selling, for the dashboard."""

    total: int
    booked: int
    reserved: int
    free: int
    bookings_open: bool


def stand_counts(edition: Edition) -> StandCounts | None:
    """Stands by status (one query), or None when the edition has no exhibition hall."""
    hall = existing_hall(edition)
    if hall is None:
        return None
    by_status = dict(
        db.session.execute(
            select(Stand.status, func.count(Stand.id))
            .where(Stand.edition_id == edition.id)
            .group_by(Stand.status)
        ).all()
    )
    return StandCounts(
        total=sum(by_status.values()),
        booked=by_status.get(StandStatus.BOOKED, 0),
        reserved=by_status.get(StandStatus.RESERVED, 0),
        free=by_status.get(StandStatus.FREE, 0),
        bookings_open=hall.bookings_open,
    )


def stands_overview(edition: Edition) -> StandsOverview:
    """The hall, every stand with the booking that holds it, and every booking
    (requests, confirmed, declined and cancelled) with its totals and documents."""
    documents = _documents_by_booking(edition)
    bookings = list(
        db.session.scalars(
            select(StandBooking)
            .where(StandBooking.edition_id == edition.id)
            .options(selectinload(StandBooking.passes), selectinload(StandBooking.stand))
            .order_by(StandBooking.created_at.desc(), StandBooking.id.desc())
        )
    )
    lines = {b.id: _booking_line(b, documents.get(b.id, [])) for b in bookings}
    stands = [
        StandLine(stand=stand, holder=lines.get(stand.booking_id) if stand.booking_id else None)
        for stand in db.session.scalars(
            select(Stand)
            .where(Stand.edition_id == edition.id)
            .options(selectinload(Stand.package))
            .order_by(Stand.code)
        )
    ]
    ordered = sorted(lines.values(), key=lambda line: _BOOKING_ORDER[line.booking.status])
    return StandsOverview(
        edition=edition, hall=existing_hall(edition), stands=stands, bookings=ordered
    )


def get_stand_booking(edition: Edition, booking_id: int) -> StandBooking:
    return edition_row(StandBooking, booking_id, edition.id, _("There is no such booking."))


def booking_status_label(status: str) -> str:
    return {
        StandBookingStatus.REQUESTED: _("Waiting for approval"),
        StandBookingStatus.CONFIRMED: _("Confirmed"),
        StandBookingStatus.DECLINED: _("Declined"),
        StandBookingStatus.CANCELLED: _("Cancelled"),
    }.get(status, status)


def stand_status_label(status: str) -> str:
    """The word for a stand's status, as the exhibition pages and the plan say it."""
    return status_label(status)


def addon_kind_label(kind: str) -> str:
    return {
        AddonKind.EXTRA_PASS: _("Extra exhibitor pass"),
        AddonKind.POWER: _("Power"),
        AddonKind.FURNITURE: _("Furniture"),
        AddonKind.OTHER: _("Other"),
    }.get(kind, kind)


def addons_text(booking: StandBooking) -> str:
    """The booking's add-ons in one line: "2 × Ekstra strøm, 1 × Barbord"."""
    parts = [f"{int(item['quantity'])} × {item['name']}" for item in booking.addons or []]
    if booking.extra_passes:
        parts.append(
            ngettext(
                "%(num)d extra pass bought later",
                "%(num)d extra passes bought later",
                booking.extra_passes,
            )
        )
    return ", ".join(parts)


def staff_text(booking: StandBooking) -> str:
    return "; ".join(
        f"{person.name} <{person.email}>" if person.email else person.name
        for person in booking.active_passes
    )


def _exhibitor_header() -> list[str]:
    return [
        _("Company"),
        _("CVR number"),
        _("Stand"),
        _("Package"),
        _("Add-ons"),
        _("Contact person"),
        _("E-mail"),
        _("Phone"),
        _("Invoice e-mail"),
        _("EAN location number"),
        _("Status"),
        _("Excl. VAT (kr.)"),
        _("VAT (kr.)"),
        _("Incl. VAT (kr.)"),
        _("Stand staff"),
        _("Booking reference"),
        _("Booked"),
    ]


def _exhibitor_rows(edition: Edition) -> list[tuple[list[str], Amounts, str]]:
    """(text cells before the amounts, amounts, text cells after) per booking,
    the stand holders by stand code first, then declined and cancelled."""
    overview = stands_overview(edition)
    lines = sorted(
        overview.bookings,
        key=lambda line: (
            line.booking.status in (StandBookingStatus.DECLINED, StandBookingStatus.CANCELLED),
            line.booking.stand.code,
            line.booking.id,
        ),
    )
    rows = []
    for line in lines:
        booking = line.booking
        before = [
            booking.company,
            booking.cvr,
            booking.stand.code,
            booking.package_name,
            addons_text(booking),
            booking.contact_name,
            booking.contact_email,
            booking.contact_phone,
            booking.invoice_email,
            booking.ean or "",
            booking_status_label(booking.status),
        ]
        booked = to_user_timezone(booking.created_at).strftime("%Y-%m-%d %H:%M")
        after = [staff_text(booking), booking.reference, booked]
        rows.append((before, line.amounts, after))
    return rows


def _kroner_cell(ore: int) -> str:
    """1234,56 or -1234,56, as the accounting ledger writes it: Danish Excel reads a number."""
    sign = "-" if ore < 0 else ""
    whole, fraction = divmod(abs(ore), 100)
    return f"{sign}{whole},{fraction:02d}"


def exhibitors_csv(edition: Edition) -> str:
    """The exhibitor list as CSV for Danish Excel: BOM, semicolons, CRLF, every
    text cell neutralised (company names come from a public form)."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator=CSV_LINE_END)
    writer.writerow(_exhibitor_header())
    for before, amounts, after in _exhibitor_rows(edition):
        writer.writerow(
            [neutralise_cell(value) for value in before]
            + [
                _kroner_cell(amounts.net_ore),
                _kroner_cell(amounts.vat_ore),
                _kroner_cell(amounts.gross_ore),
            ]
            + [neutralise_cell(value) for value in after]
        )
    return buffer.getvalue()


_EXHIBITOR_COLUMN_WIDTHS = (30, 10, 8, 20, 30, 22, 28, 14, 28, 15, 18, 12, 12, 12, 40, 12, 16)


def exhibitors_xlsx(edition: Edition) -> bytes:
    """The exhibitor list as an Excel workbook: amounts as numbers in kroner,
    text as string cells (never formulas, so ``=HYPERLINK(...)`` is shown, not run)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Exhibitors")[:31])
    for index, width in enumerate(_EXHIBITOR_COLUMN_WIDTHS):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def text(value: object, font: Font | None = None) -> WriteOnlyCell:
        return text_cell(sheet, value, font)

    def kroner(ore: int) -> WriteOnlyCell:
        return kroner_cell(sheet, ore)

    sheet.append([text(title, bold) for title in _exhibitor_header()])
    for before, amounts, after in _exhibitor_rows(edition):
        sheet.append(
            [text(value) for value in before]
            + [kroner(amounts.net_ore), kroner(amounts.vat_ore), kroner(amounts.gross_ore)]
            + [text(value) for value in after]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
