"""Issuing invoices and credit notes, and recording what was paid.

Numbers are taken from a counter row (``invoice_number_series``) in the same
transaction that inserts the document: the row stays locked until commit, so
numbers are unique and, because a rolled-back transaction also rolls back its
counter, gap-free. Take the number last, just before commit, so the lock is
held briefly.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import force_locale, format_date, to_user_timezone
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conference.core.db import db, utcnow
from conference.core.errors import DomainError
from conference.core.i18n import babel_locale
from conference.core.money import vat_of
from conference.core.services import record_audit
from conference.events.models import Edition
from conference.invoicing.models import DocumentKind, Invoice, InvoicePayment, NumberSeries
from conference.registration.models import Attendee, Order, OrganisationType


@dataclass(frozen=True)
class InvoiceLine:
    """One line as printed: description, quantity and unit price without VAT."""

    description: str
    quantity: int
    unit_net_ore: int
    vat_percent: int

    @property
    def net_ore(self) -> int:
        return self.quantity * self.unit_net_ore

    def to_json(self) -> dict:
        return {
            "description": self.description,
            "quantity": self.quantity,
            "unit_net_ore": self.unit_net_ore,
            "net_ore": self.net_ore,
            "vat_percent": self.vat_percent,
        }


@dataclass(frozen=True)
class Totals:
    breakdown: list[dict]
    net_ore: int
    vat_ore: int

    @property
    def total_ore(self) -> int:
        return self.net_ore + self.vat_ore


def document_totals(lines: list[InvoiceLine]) -> Totals:
    """Net per VAT rate, VAT computed once per rate on that total (not per line)."""
    per_rate: dict[int, int] = defaultdict(int)
    for line in lines:
        per_rate[line.vat_percent] += line.net_ore
    breakdown = [
        {"vat_percent": rate, "net_ore": net, "vat_ore": vat_of(net, rate)}
        for rate, net in sorted(per_rate.items(), reverse=True)
    ]
    return Totals(
        breakdown=breakdown,
        net_ore=sum(b["net_ore"] for b in breakdown),
        vat_ore=sum(b["vat_ore"] for b in breakdown),
    )


# --- numbering --------------------------------------------------------------------


def series_prefix(kind: DocumentKind, issued_on: date) -> str:
    key = "INVOICE_NUMBER_PREFIX" if kind is DocumentKind.INVOICE else "CREDIT_NOTE_NUMBER_PREFIX"
    return current_app.config[key].format(year=issued_on.year)


def take_number(prefix: str) -> int:
    """The next number of a series, locked until the caller's transaction ends."""
    step = (
        update(NumberSeries)
        .where(NumberSeries.prefix == prefix)
        .values(last_number=NumberSeries.last_number + 1)
        .returning(NumberSeries.last_number)
    )
    number = db.session.execute(step).scalar()
    if number is not None:
        return number
    # First number of a new series: create the row; a concurrent creator wins
    # harmlessly (DO NOTHING) and both then step the same row.
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(
        insert(NumberSeries).values(prefix=prefix, last_number=0).on_conflict_do_nothing()
    )
    return db.session.execute(step).scalar_one()


def format_number(prefix: str, sequence: int) -> str:
    return f"{prefix}{sequence:05d}"


# --- issuing ------------------------------------------------------------------------


def seller_snapshot(edition: Edition) -> dict:
    """The seller as printed: name, address split into street and postcode/city, CVR, bank."""
    street, postcode, city = _split_address(edition.seller_address)
    return {
        "name": edition.seller_name,
        "street": street,
        "postcode": postcode,
        "city": city,
        "country": "DK",
        "cvr": edition.seller_cvr,
        "email": edition.seller_email,
        "bank_reg": edition.seller_bank_reg,
        "bank_account": edition.seller_bank_account,
        "iban": edition.seller_iban.replace(" ", ""),
        "bic": edition.seller_bic,
    }


def _split_address(address: str) -> tuple[str, str, str]:
    """("Weidekampsgade 10", "2300", "København S") from the one-line form."""
    street, _, rest = address.rpartition(",")
    match = re.match(r"\s*(\d{4})\s+(.+)", rest)
    if street and match:
        return street.strip(), match.group(1), match.group(2).strip()
    return address.strip(), "", ""


def payment_days(order: Order) -> int:
    days = current_app.config["INVOICE_PAYMENT_DAYS"]
    if OrganisationType(order.organisation_type).is_public:
        # Public buyers: never longer than 30 days.
        days = min(days, 30)
    return days


def order_lines(order: Order, attendees: list[Attendee]) -> list[InvoiceLine]:
    """One line per ticket type and price, in the order's language."""
    edition = order.edition
    groups: dict[tuple[int, int, int], int] = defaultdict(int)
    names: dict[tuple[int, int, int], object] = {}
    for attendee in attendees:
        key = (attendee.ticket_type_id, attendee.unit_price_net_ore, attendee.vat_percent)
        groups[key] += 1
        names[key] = attendee.ticket_type
    lines = []
    with force_locale(babel_locale(order.language)):
        day = format_date(edition.starts_at, "long")
        for key, quantity in groups.items():
            ticket_type = names[key]
            lines.append(
                InvoiceLine(
                    description=_(
                        "%(event)s, %(day)s: %(ticket)s",
                        event=edition.display_name(order.language),
                        day=day,
                        ticket=ticket_type.display_name(order.language),
                    ),
                    quantity=quantity,
                    unit_net_ore=key[1],
                    vat_percent=key[2],
                )
            )
    return lines


def _participants_note(order: Order, attendees: list[Attendee]) -> str:
    with force_locale(babel_locale(order.language)):
        return _("Participants: %(names)s", names=", ".join(a.name for a in attendees))


def _new_document(
    kind: DocumentKind,
    order: Order,
    lines: list[InvoiceLine],
    *,
    now: datetime,
    note: str,
    credited: Invoice | None = None,
) -> Invoice:
    edition = order.edition
    totals = document_totals(lines)
    issued_on = local_date_of(now)
    document = Invoice(
        kind=kind,
        issued_at=now,
        issued_on=issued_on,
        supplied_on=local_date_of(edition.starts_at),
        due_on=(
            issued_on + timedelta(days=payment_days(order))
            if kind is DocumentKind.INVOICE
            else None
        ),
        language=order.language,
        payment_method=order.payment_method,
        edition_id=edition.id,
        order_id=order.id,
        credited_invoice_id=credited.id if credited else None,
        our_reference=order.reference,
        seller=seller_snapshot(edition),
        buyer_name=order.invoice_organisation,
        buyer_address=order.invoice_address,
        buyer_postcode=order.invoice_postcode,
        buyer_city=order.invoice_city,
        buyer_contact=order.booker_name,
        buyer_email=order.booker_email,
        buyer_cvr=order.cvr,
        buyer_ean=order.ean,
        buyer_is_public=OrganisationType(order.organisation_type).is_public,
        buyer_reference=order.personreference,
        buyer_order_number=order.buyer_order_number,
        buyer_accounting_cost=order.accounting_cost,
        lines=[line.to_json() for line in lines],
        vat_breakdown=totals.breakdown,
        net_ore=totals.net_ore,
        vat_ore=totals.vat_ore,
        total_ore=totals.total_ore,
        note=note,
    )
    # Last, so the series row is locked only from here to the commit.
    prefix = series_prefix(kind, issued_on)
    document.series_prefix = prefix
    document.sequence = take_number(prefix)
    document.number = format_number(prefix, document.sequence)
    db.session.add(document)
    db.session.flush()
    return document


def local_date_of(moment: datetime) -> date:
    """The Copenhagen calendar date of a naive UTC moment."""
    return to_user_timezone(moment).date()


def issue_invoice(order: Order, *, now: datetime | None = None, actor: str = "system") -> Invoice:
    """Issue the invoice for an order's confirmed places, in the caller's transaction.

    Card orders: call after the payment is recorded; the invoice is marked paid.
    Free orders (speakers, press) get no invoice: nothing was sold.
    """
    now = now or utcnow()
    attendees = order.active_attendees
    lines = order_lines(order, attendees)
    invoice = _new_document(
        DocumentKind.INVOICE,
        order,
        lines,
        now=now,
        note=_participants_note(order, attendees),
    )
    record_audit(actor, "invoice.issued", "invoice", invoice.id, number=invoice.number)
    return invoice


class NothingToCredit(DomainError):
    """The credit note would take back more than the invoice still holds."""


def issue_credit_note(
    invoice: Invoice,
    lines: list[InvoiceLine],
    *,
    order: Order,
    reason: str,
    now: datetime | None = None,
    actor: str = "system",
) -> Invoice:
    """A credit note taking back ``lines`` of an invoice (all of it or a part)."""
    if invoice.is_credit_note:
        raise DomainError("a credit note cannot be credited")
    already = credited_total(invoice)
    asked = document_totals(lines).total_ore
    if asked <= 0 or already + asked > invoice.total_ore:
        raise NothingToCredit(
            _("Nothing left to credit on invoice %(number)s.", number=invoice.number)
        )
    with force_locale(babel_locale(invoice.language)):
        note = _(
            "Credit note for invoice %(number)s. %(reason)s", number=invoice.number, reason=reason
        ).strip()
    credit_note = _new_document(
        DocumentKind.CREDIT_NOTE, order, lines, now=now or utcnow(), note=note, credited=invoice
    )
    record_audit(
        actor,
        "credit_note.issued",
        "invoice",
        credit_note.id,
        number=credit_note.number,
        credits=invoice.number,
    )
    return credit_note


def credit_lines(
    invoice: Invoice, order: Order, attendees: list[Attendee], *, whole: bool
) -> list[InvoiceLine]:
    """The lines that take back ``attendees``' places, priced as they were invoiced.

    ``whole``: the last places of the order go, so the credit note takes back
    everything the invoice still holds (earlier credit notes subtracted).
    """
    if whole and not credited_total(invoice):
        return [
            InvoiceLine(
                line["description"], line["quantity"], line["unit_net_ore"], line["vat_percent"]
            )
            for line in invoice.lines
        ]
    lines = order_lines(order, attendees)
    # Same wording as the invoice's line for the same price, so they pair up.
    printed = {(line["unit_net_ore"], line["vat_percent"]): line for line in invoice.lines}
    return [
        InvoiceLine(
            printed.get((line.unit_net_ore, line.vat_percent), {}).get(
                "description", line.description
            ),
            line.quantity,
            line.unit_net_ore,
            line.vat_percent,
        )
        for line in lines
    ]


def credited_total(invoice: Invoice) -> int:
    """How much of an invoice's total credit notes have taken back, in øre."""
    notes = db.session.scalars(
        select(Invoice.total_ore).where(Invoice.credited_invoice_id == invoice.id)
    ).all()
    return sum(notes)


def invoice_filename(invoice: Invoice, extension: str = "pdf") -> str:
    """ "Faktura-2027-00001.pdf", "Credit-note-K2027-00001.xml": in the document's language."""
    with force_locale(babel_locale(invoice.language)):
        label = _("Credit-note") if invoice.is_credit_note else _("Invoice")
    return f"{label}-{invoice.number}.{extension}"


def invoice_for_order(order: Order) -> Invoice | None:
    """The order's invoice (not its credit notes), if one was issued."""
    return db.session.scalar(
        select(Invoice).where(Invoice.order_id == order.id, Invoice.kind == DocumentKind.INVOICE)
    )


# --- payments -----------------------------------------------------------------------


class InvalidPayment(DomainError):
    pass


def record_payment(
    invoice: Invoice,
    *,
    paid_on: date,
    amount_ore: int,
    method: str = "bank",
    actor: str,
) -> InvoicePayment:
    """Note money received against an invoice; a fully paid invoice marks its order paid."""
    if invoice.is_credit_note:
        raise InvalidPayment(_("A credit note is not paid."))
    if amount_ore <= 0:
        raise InvalidPayment(_("The amount must be more than 0."))
    if paid_on > local_date_of(utcnow()):
        raise InvalidPayment(_("The payment date cannot be in the future."))
    payment = InvoicePayment(
        invoice=invoice,
        paid_on=paid_on,
        amount_ore=amount_ore,
        method=method,
        recorded_by=actor,
    )
    db.session.add(payment)
    db.session.flush()
    if invoice.order_id is not None and amount_due(invoice) <= 0:
        from conference.registration.models import PaymentStatus

        db.session.execute(
            update(Order)
            .where(Order.id == invoice.order_id)
            .values(payment_status=PaymentStatus.PAID)
        )
    record_audit(
        actor, "invoice.paid", "invoice", invoice.id, number=invoice.number, amount_ore=amount_ore
    )
    return payment


def paid_total(invoice: Invoice) -> int:
    return sum(p.amount_ore for p in invoice.payments)


def amount_due(invoice: Invoice) -> int:
    """What the buyer still owes: total less payments and credit notes."""
    return invoice.total_ore - paid_total(invoice) - credited_total(invoice)


class DocumentStatus:
    PAID = "paid"
    UNPAID = "unpaid"
    OVERDUE = "overdue"
    CREDITED = "credited"
    CREDIT_NOTE = "credit_note"


def document_status(invoice: Invoice, today: date | None = None) -> str:
    """paid, unpaid, overdue or credited (in full); credit notes are just that."""
    if invoice.is_credit_note:
        return DocumentStatus.CREDIT_NOTE
    credited = credited_total(invoice)
    if credited >= invoice.total_ore:
        return DocumentStatus.CREDITED
    if paid_total(invoice) + credited >= invoice.total_ore:
        return DocumentStatus.PAID
    today = today or local_date_of(utcnow())
    if invoice.due_on is not None and invoice.due_on < today:
        return DocumentStatus.OVERDUE
    return DocumentStatus.UNPAID


# --- accounting: lists, ledger, VAT totals, archive ---------------------------------
#
# What the accounting screens read and export. What is paid, what is credited and
# the status of a document come from one SQL expression per document, so the list,
# its status filter, its badges and its totals cannot disagree, and a page of fifty
# rows is one query. The status expression follows ``document_status`` above; a
# test holds the two together.

import csv  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Iterable, Iterator  # noqa: E402
from decimal import Decimal  # noqa: E402

from openpyxl import Workbook  # noqa: E402
from openpyxl.cell import WriteOnlyCell  # noqa: E402
from openpyxl.styles import Font  # noqa: E402
from sqlalchemy import and_, case, func  # noqa: E402
from sqlalchemy.orm import aliased  # noqa: E402

from conference.core.errors import NotFound  # noqa: E402
from conference.core.i18n import current_language  # noqa: E402
from conference.core.money import format_dkk  # noqa: E402
from conference.core.spreadsheets import (  # noqa: E402
    CSV_BOM,
    CSV_DELIMITER,
    CSV_LINE_END,
    neutralise_cell,
)
from conference.invoicing.pdf import stored_pdf  # noqa: E402
from conference.invoicing.ubl import invoice_ubl  # noqa: E402

DOCUMENTS_PER_PAGE = 50
#: Documents read, rendered if need be and written to a ZIP per transaction.
ARCHIVE_BATCH_SIZE = 50


@dataclass(frozen=True)
class Period:
    """A span of issue dates, both days included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a period ends on or after its start")

    @property
    def slug(self) -> str:
        """For file names: 2027-01-01_2027-01-31."""
        return f"{self.start.isoformat()}_{self.end.isoformat()}"


def _month(year: int, month: int) -> Period:
    first = date(year, month, 1)
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    return Period(first, next_first - timedelta(days=1))


def _quarter(year: int, quarter: int) -> Period:
    first_month = 3 * (quarter - 1) + 1
    return Period(_month(year, first_month).start, _month(year, first_month + 2).end)


def quick_periods(today: date) -> dict[str, Period]:
    """The periods accounting asks for most, by name; VAT is reported by quarter or year."""
    last_month_year, last_month = (
        (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    )
    quarter = (today.month - 1) // 3 + 1
    last_quarter_year, last_quarter = (
        (today.year, quarter - 1) if quarter > 1 else (today.year - 1, 4)
    )
    return {
        "this_month": _month(today.year, today.month),
        "last_month": _month(last_month_year, last_month),
        "this_quarter": _quarter(today.year, quarter),
        "last_quarter": _quarter(last_quarter_year, last_quarter),
        "this_year": Period(date(today.year, 1, 1), date(today.year, 12, 31)),
        "last_year": Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    }


def default_period(today: date) -> Period:
    return quick_periods(today)["this_month"]


def today_in_copenhagen() -> date:
    return local_date_of(utcnow())


class StatusFilter:
    """What the document list can be narrowed to; "unpaid" includes the overdue."""

    ALL = "all"
    UNPAID = "unpaid"
    OVERDUE = "overdue"
    PAID = "paid"
    CREDITED = "credited"
    CREDIT_NOTES = "credit_notes"


_FILTERED_STATUSES: dict[str, tuple[str, ...] | None] = {
    StatusFilter.ALL: None,
    StatusFilter.UNPAID: (DocumentStatus.UNPAID, DocumentStatus.OVERDUE),
    StatusFilter.OVERDUE: (DocumentStatus.OVERDUE,),
    StatusFilter.PAID: (DocumentStatus.PAID,),
    StatusFilter.CREDITED: (DocumentStatus.CREDITED,),
    StatusFilter.CREDIT_NOTES: (DocumentStatus.CREDIT_NOTE,),
}
STATUS_FILTERS = tuple(_FILTERED_STATUSES)


@dataclass(frozen=True)
class _Figures:
    """SQL expressions for one document row of ``Invoice``."""

    paid: object
    credited: object
    last_paid_on: object
    status: object
    signed_net: object
    signed_vat: object
    signed_total: object


def _figures(today: date) -> _Figures:
    credit_note = aliased(Invoice)
    paid = (
        select(func.coalesce(func.sum(InvoicePayment.amount_ore), 0))
        .where(InvoicePayment.invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )
    credited = (
        select(func.coalesce(func.sum(credit_note.total_ore), 0))
        .where(credit_note.credited_invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )
    last_paid_on = (
        select(func.max(InvoicePayment.paid_on))
        .where(InvoicePayment.invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )
    is_credit_note = Invoice.kind == DocumentKind.CREDIT_NOTE
    # The same order of questions as document_status.
    status = case(
        (is_credit_note, DocumentStatus.CREDIT_NOTE),
        (credited >= Invoice.total_ore, DocumentStatus.CREDITED),
        (paid + credited >= Invoice.total_ore, DocumentStatus.PAID),
        (Invoice.due_on < today, DocumentStatus.OVERDUE),
        else_=DocumentStatus.UNPAID,
    )

    def signed(column):
        return case((is_credit_note, -column), else_=column)

    return _Figures(
        paid=paid,
        credited=credited,
        last_paid_on=last_paid_on,
        status=status,
        signed_net=signed(Invoice.net_ore),
        signed_vat=signed(Invoice.vat_ore),
        signed_total=signed(Invoice.total_ore),
    )


def _in_period(period: Period):
    return and_(Invoice.issued_on >= period.start, Invoice.issued_on <= period.end)


@dataclass(frozen=True)
class DocumentRow:
    """One invoice or credit note as the lists and the ledger show it.

    Amounts are signed as the ledger counts them: negative on a credit note.
    """

    id: int
    kind: str
    number: str
    issued_on: date
    due_on: date | None
    buyer_name: str
    buyer_cvr: str | None
    buyer_ean: str | None
    buyer_contact: str
    buyer_email: str
    payment_method: str
    our_reference: str
    net_ore: int
    vat_ore: int
    total_ore: int
    paid_ore: int
    credited_ore: int
    last_paid_on: date | None
    status: str

    @property
    def is_credit_note(self) -> bool:
        return self.kind == DocumentKind.CREDIT_NOTE

    @property
    def paid_on(self) -> date | None:
        """The day the invoice was settled: its last payment, once it is paid in full."""
        return self.last_paid_on if self.status == DocumentStatus.PAID else None

    @property
    def amount_due_ore(self) -> int:
        if self.is_credit_note or self.status == DocumentStatus.CREDITED:
            return 0
        return max(self.total_ore - self.paid_ore - self.credited_ore, 0)

    def days_overdue(self, today: date) -> int:
        if self.status != DocumentStatus.OVERDUE or self.due_on is None:
            return 0
        return (today - self.due_on).days


def _row_statement(figures: _Figures):
    return select(
        Invoice.id,
        Invoice.kind,
        Invoice.number,
        Invoice.issued_on,
        Invoice.due_on,
        Invoice.buyer_name,
        Invoice.buyer_cvr,
        Invoice.buyer_ean,
        Invoice.buyer_contact,
        Invoice.buyer_email,
        Invoice.payment_method,
        Invoice.our_reference,
        figures.signed_net.label("net_ore"),
        figures.signed_vat.label("vat_ore"),
        figures.signed_total.label("total_ore"),
        figures.paid.label("paid_ore"),
        figures.credited.label("credited_ore"),
        figures.last_paid_on.label("last_paid_on"),
        figures.status.label("status"),
    )


def _to_row(row) -> DocumentRow:
    values = row._asdict()
    # SQLite returns the max() of a date column as text.
    if isinstance(values["last_paid_on"], str):
        values["last_paid_on"] = date.fromisoformat(values["last_paid_on"])
    return DocumentRow(**values)


@dataclass
class DocumentPage:
    """A page of documents and the totals of every document the filter matched."""

    rows: list[DocumentRow]
    count: int
    net_ore: int
    vat_ore: int
    total_ore: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(math.ceil(self.count / self.per_page), 1)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_number(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.count else 0

    @property
    def last_number(self) -> int:
        return min(self.page * self.per_page, self.count)


def _paged(conditions, figures: _Figures, ordering, page: int, per_page: int) -> DocumentPage:
    count, net, vat, total = db.session.execute(
        select(
            func.count(Invoice.id),
            func.coalesce(func.sum(figures.signed_net), 0),
            func.coalesce(func.sum(figures.signed_vat), 0),
            func.coalesce(func.sum(figures.signed_total), 0),
        ).where(*conditions)
    ).one()
    result = DocumentPage(
        rows=[],
        count=int(count),
        net_ore=int(net),
        vat_ore=int(vat),
        total_ore=int(total),
        page=1,
        per_page=per_page,
    )
    result.page = min(max(page, 1), result.pages)
    statement = (
        _row_statement(figures)
        .where(*conditions)
        .order_by(*ordering)
        .limit(per_page)
        .offset((result.page - 1) * per_page)
    )
    result.rows = [_to_row(row) for row in db.session.execute(statement)]
    return result


def list_documents(
    period: Period,
    status: str = StatusFilter.ALL,
    *,
    page: int = 1,
    per_page: int = DOCUMENTS_PER_PAGE,
    today: date | None = None,
) -> DocumentPage:
    """Invoices and credit notes issued in ``period`` with the given status, newest
    first, one page of them; the totals (credit notes negative) cover every match."""
    figures = _figures(today or today_in_copenhagen())
    conditions = [_in_period(period)]
    statuses = _FILTERED_STATUSES.get(status)
    if statuses:
        conditions.append(figures.status.in_(statuses))
    ordering = (Invoice.issued_on.desc(), Invoice.id.desc())
    return _paged(conditions, figures, ordering, page, per_page)


def overdue_invoices(
    *, page: int = 1, per_page: int = DOCUMENTS_PER_PAGE, today: date | None = None
) -> DocumentPage:
    """Every invoice past its due date and not settled, whenever it was issued;
    the longest overdue first."""
    figures = _figures(today or today_in_copenhagen())
    conditions = [figures.status == DocumentStatus.OVERDUE]
    ordering = (Invoice.due_on, Invoice.id)
    return _paged(conditions, figures, ordering, page, per_page)


@dataclass(frozen=True)
class OpenInvoices:
    count: int
    amount_due_ore: int
    #: When the oldest of them was issued.
    oldest_issued_on: date | None


@dataclass(frozen=True)
class AccountingOverview:
    overdue: OpenInvoices
    not_yet_due: OpenInvoices
    this_month: DocumentPage


def accounting_overview(today: date | None = None) -> AccountingOverview:
    """The figures of the accounting start page: what is owed, what is late, this month."""
    today = today or today_in_copenhagen()
    figures = _figures(today)
    open_documents = (
        select(
            figures.status.label("status"),
            (Invoice.total_ore - figures.paid - figures.credited).label("due"),
            Invoice.issued_on.label("issued_on"),
        )
        .where(Invoice.kind == DocumentKind.INVOICE)
        .subquery()
    )
    sums = {}
    for status, count, due, oldest in db.session.execute(
        select(
            open_documents.c.status,
            func.count(),
            func.sum(open_documents.c.due),
            func.min(open_documents.c.issued_on),
        )
        .where(open_documents.c.status.in_((DocumentStatus.UNPAID, DocumentStatus.OVERDUE)))
        .group_by(open_documents.c.status)
    ):
        if isinstance(oldest, str):  # SQLite's min() of a date is text
            oldest = date.fromisoformat(oldest)
        sums[status] = OpenInvoices(
            count=int(count), amount_due_ore=int(due or 0), oldest_issued_on=oldest
        )
    nothing = OpenInvoices(count=0, amount_due_ore=0, oldest_issued_on=None)
    return AccountingOverview(
        overdue=sums.get(DocumentStatus.OVERDUE, nothing),
        not_yet_due=sums.get(DocumentStatus.UNPAID, nothing),
        this_month=list_documents(default_period(today), per_page=1, today=today),
    )


# --- one document -----------------------------------------------------------------


@dataclass
class DocumentDetail:
    """Everything the document page shows about one invoice or credit note."""

    document: Invoice
    status: str
    paid_ore: int
    credited_ore: int
    amount_due_ore: int
    payments: list[InvoicePayment]
    #: Credit notes against an invoice.
    credit_notes: list[Invoice]
    #: The invoice a credit note corrects.
    credited_invoice: Invoice | None


def get_document(document_id: int) -> Invoice:
    document = db.session.get(Invoice, document_id)
    if document is None:
        raise NotFound(_("There is no such invoice or credit note."))
    return document


def document_detail(document_id: int, today: date | None = None) -> DocumentDetail:
    document = get_document(document_id)
    credit_notes = (
        []
        if document.is_credit_note
        else list(
            db.session.scalars(
                select(Invoice)
                .where(Invoice.credited_invoice_id == document.id)
                .order_by(Invoice.id)
            )
        )
    )
    credited = sum(note.total_ore for note in credit_notes)
    paid = paid_total(document)
    status = document_status(document, today)
    due = (
        0
        if document.is_credit_note or status == DocumentStatus.CREDITED
        else max(document.total_ore - paid - credited, 0)
    )
    return DocumentDetail(
        document=document,
        status=status,
        paid_ore=paid,
        credited_ore=credited,
        amount_due_ore=due,
        payments=list(document.payments),
        credit_notes=credit_notes,
        credited_invoice=document.credited_invoice,
    )


def mark_paid(invoice: Invoice, *, paid_on: date, amount_ore: int, actor: str) -> InvoicePayment:
    """Accounting notes a bank transfer against an invoice, through ``record_payment``.

    Refuses a date before the invoice was issued (a mistyped year) and more than
    is still due (a double click, or money that belongs to another invoice). The
    invoice row is locked first (FOR UPDATE on PostgreSQL; SQLite's write
    transaction already serialises), so two people marking the same invoice
    paid at once cannot both take what is due. Errors name the form field.
    """
    db.session.execute(select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
    db.session.expire(invoice, ["payments"])
    if not invoice.is_credit_note:
        if paid_on < invoice.issued_on:
            raise InvalidPayment(
                _(
                    "The payment date cannot be before the invoice date (%(day)s).",
                    day=format_date(invoice.issued_on, "long"),
                ),
                field="paid_on",
            )
        due = amount_due(invoice)
        if amount_ore > 0 and amount_ore > due:
            raise InvalidPayment(
                _(
                    "That is more than the %(due)s still due on this invoice.",
                    due=format_dkk(max(due, 0), current_language()),
                ),
                field="amount",
            )
    try:
        return record_payment(
            invoice, paid_on=paid_on, amount_ore=amount_ore, method="bank", actor=actor
        )
    except InvalidPayment as error:
        if error.field is None and not invoice.is_credit_note:
            # record_payment judges two inputs: the amount (above 0) and the date
            # (not in the future).
            error.field = "amount" if amount_ore <= 0 else "paid_on"
        raise


# --- the ledger -------------------------------------------------------------------


def ledger(period: Period) -> list[DocumentRow]:
    """Every invoice and credit note issued in ``period``, in the order they were
    issued; amounts signed (credit notes negative)."""
    figures = _figures(today_in_copenhagen())
    statement = (
        _row_statement(figures).where(_in_period(period)).order_by(Invoice.issued_on, Invoice.id)
    )
    return [_to_row(row) for row in db.session.execute(statement)]


def _ledger_header() -> list[str]:
    return [
        _("Number"),
        _("Kind"),
        _("Date"),
        _("Buyer"),
        _("CVR"),
        _("EAN"),
        _("Net"),
        _("VAT"),
        _("Total"),
        _("Payment method"),
        _("Due date"),
        _("Paid date"),
        _("Our reference"),
    ]


def kind_label(kind: str) -> str:
    return _("Credit note") if kind == DocumentKind.CREDIT_NOTE else _("Invoice")


def method_label(method: str) -> str:
    return _("Card") if method == "card" else _("Invoice")


def _kroner_text(ore: int) -> str:
    """1234,56 or -1234,56: a number Danish Excel reads, no thousands separator."""
    sign = "-" if ore < 0 else ""
    whole, fraction = divmod(abs(ore), 100)
    return f"{sign}{whole},{fraction:02d}"


def ledger_csv(period: Period) -> str:
    """The ledger as CSV for Danish Excel: BOM, semicolons, CRLF, decimal commas.

    Text cells (buyer names come from a public form) are neutralised against
    formula injection; the amounts and dates are written by us as plain numbers
    and ISO dates, so a credit note's minus stays a number.
    """
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator=CSV_LINE_END)
    writer.writerow(_ledger_header())
    for row in ledger(period):
        writer.writerow(
            [
                neutralise_cell(row.number),
                neutralise_cell(kind_label(row.kind)),
                row.issued_on.isoformat(),
                neutralise_cell(row.buyer_name),
                neutralise_cell(row.buyer_cvr),
                neutralise_cell(row.buyer_ean),
                _kroner_text(row.net_ore),
                _kroner_text(row.vat_ore),
                _kroner_text(row.total_ore),
                neutralise_cell(method_label(row.payment_method)),
                row.due_on.isoformat() if row.due_on else "",
                row.paid_on.isoformat() if row.paid_on else "",
                neutralise_cell(row.our_reference),
            ]
        )
    return buffer.getvalue()


_LEDGER_COLUMN_WIDTHS = (16, 12, 12, 40, 10, 15, 14, 14, 14, 12, 12, 12, 14)


def ledger_xlsx(period: Period) -> bytes:
    """The ledger as an Excel workbook: amounts as numbers in kroner with two
    decimals, dates as dates, text as text.

    Every text cell is written as a string cell, never as a formula, so a buyer
    named ``=HYPERLINK(...)`` is shown, not run. Write-only mode streams the rows
    into the file instead of building the sheet in memory.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Ledger")[:31])
    for index, width in enumerate(_LEDGER_COLUMN_WIDTHS):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def text(value: object, font: Font | None = None) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value="" if value is None else str(value))
        cell.data_type = "s"
        if font is not None:
            cell.font = font
        return cell

    def kroner(ore: int) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=Decimal(ore).scaleb(-2))
        cell.number_format = "#,##0.00"
        return cell

    def day(value: date | None) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell

    sheet.append([text(title, bold) for title in _ledger_header()])
    for row in ledger(period):
        sheet.append(
            [
                text(row.number),
                text(kind_label(row.kind)),
                day(row.issued_on),
                text(row.buyer_name),
                text(row.buyer_cvr),
                text(row.buyer_ean),
                kroner(row.net_ore),
                kroner(row.vat_ore),
                kroner(row.total_ore),
                text(method_label(row.payment_method)),
                day(row.due_on),
                day(row.paid_on),
                text(row.our_reference),
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- VAT totals -------------------------------------------------------------------


@dataclass
class VatLine:
    """Sales at one VAT rate in a period: invoiced, credited, and what remains."""

    vat_percent: int | None
    sales_net_ore: int = 0
    sales_vat_ore: int = 0
    credited_net_ore: int = 0
    credited_vat_ore: int = 0

    @property
    def net_ore(self) -> int:
        return self.sales_net_ore - self.credited_net_ore

    @property
    def vat_ore(self) -> int:
        """Output VAT (salgsmoms) to report: invoiced less credited."""
        return self.sales_vat_ore - self.credited_vat_ore

    def add(self, other: VatLine) -> None:
        self.sales_net_ore += other.sales_net_ore
        self.sales_vat_ore += other.sales_vat_ore
        self.credited_net_ore += other.credited_net_ore
        self.credited_vat_ore += other.credited_vat_ore


@dataclass
class VatReport:
    period: Period
    rates: list[VatLine]
    totals: VatLine
    invoice_count: int
    credit_note_count: int


def vat_totals(period: Period) -> VatReport:
    """Net sales and output VAT per rate of the documents issued in ``period``,
    credit notes deducted. Read from each document's VAT breakdown, the same
    amounts its VAT total and the ledger's VAT column are made of, so the two
    tie to the øre."""
    per_rate: dict[int, VatLine] = {}
    counts = {DocumentKind.INVOICE: 0, DocumentKind.CREDIT_NOTE: 0}
    rows = db.session.execute(select(Invoice.kind, Invoice.vat_breakdown).where(_in_period(period)))
    for kind, breakdown in rows:
        counts[DocumentKind(kind)] += 1
        for part in breakdown:
            line = per_rate.setdefault(part["vat_percent"], VatLine(part["vat_percent"]))
            if kind == DocumentKind.CREDIT_NOTE:
                line.credited_net_ore += part["net_ore"]
                line.credited_vat_ore += part["vat_ore"]
            else:
                line.sales_net_ore += part["net_ore"]
                line.sales_vat_ore += part["vat_ore"]
    rates = [per_rate[rate] for rate in sorted(per_rate, reverse=True)]
    totals = VatLine(None)
    for line in rates:
        totals.add(line)
    return VatReport(
        period=period,
        rates=rates,
        totals=totals,
        invoice_count=counts[DocumentKind.INVOICE],
        credit_note_count=counts[DocumentKind.CREDIT_NOTE],
    )


# --- the archive of a period ------------------------------------------------------


def archive_batches(
    period: Period, *, batch_size: int = ARCHIVE_BATCH_SIZE
) -> Iterator[list[tuple[str, bytes]]]:
    """The PDF and UBL files of every document issued in ``period``, a batch at a time.

    PDFs come from the store; one never rendered is rendered and stored on the
    way. Documents are read by id ranges, never all at once, and each batch's
    documents leave the session before it is handed out, so memory stays flat
    however long the period. The caller commits after each batch (the rendered
    PDFs persist, and no transaction stays open while a client downloads).
    """
    held_before = set(db.session.identity_map.keys())
    last_id = 0
    while True:
        documents = db.session.scalars(
            select(Invoice)
            .where(_in_period(period), Invoice.id > last_id)
            .order_by(Invoice.id)
            .limit(batch_size)
        ).all()
        if not documents:
            return
        entries = []
        for document in documents:
            entries.append((invoice_filename(document, "pdf"), stored_pdf(document)))
            entries.append((invoice_filename(document, "xml"), invoice_ubl(document)))
        last_id = documents[-1].id
        del documents
        # What this batch read (its documents, the invoices its credit notes point
        # to, payments) leaves the session; what the caller held stays.
        for key, loaded in list(db.session.identity_map.items()):
            if key not in held_before:
                db.session.expunge(loaded)
        yield entries


class _ChunkSink(io.RawIOBase):
    """A write-only, non-seekable file that keeps what is written until taken.

    ``zipfile`` writes to it as to a pipe (local headers with data descriptors,
    then the central directory), so a ZIP can be sent while it is made.
    """

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def zip_stream(batches: Iterable[list[tuple[str, bytes]]]) -> Iterator[bytes]:
    """A ZIP of (filename, bytes) entries, yielded piece by piece as it is written."""
    sink = _ChunkSink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entries in batches:
            for name, data in entries:
                archive.writestr(name, data)
                chunk = sink.take()
                if chunk:
                    yield chunk
    yield sink.take()
