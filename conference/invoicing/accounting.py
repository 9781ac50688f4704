"""Accounting: lists, ledger, VAT totals and the archive of invoices and credit notes.

What the accounting screens read and export. What is paid, what is credited and
the status of a document come from one SQL expression per document, so the list,
its status filter, its badges and its totals cannot disagree, and a page of fifty
rows is one query. The status expression follows ``services.document_status``; a
test holds the two together.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import format_date
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from conference.core.db import db
from conference.core.errors import NotFound
from conference.core.i18n import current_language
from conference.core.money import format_dkk
from conference.core.paging import Paged
from conference.core.spreadsheets import (
    CSV_BOM,
    CSV_DELIMITER,
    CSV_LINE_END,
    kroner_cell,
    neutralise_cell,
    text_cell,
)
from conference.events.services import copenhagen_date
from conference.invoicing.models import DocumentKind, Invoice, InvoicePayment
from conference.invoicing.pdf import stored_pdf
from conference.invoicing.services import (
    DocumentStatus,
    InvalidPayment,
    amount_due,
    document_status,
    invoice_filename,
    paid_total,
    record_payment,
)
from conference.invoicing.ubl import invoice_ubl

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


def paid_on_invoice():
    """SQL: what has been paid on the row of ``Invoice`` in the query, in øre (0 if nothing)."""
    return (
        select(func.coalesce(func.sum(InvoicePayment.amount_ore), 0))
        .where(InvoicePayment.invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )


def credited_on_invoice(amount: str = "total_ore"):
    """SQL: the sum of ``amount`` (total_ore, net_ore, ...) of the credit notes of the
    row of ``Invoice`` in the query, in øre (0 if none)."""
    credit_note = aliased(Invoice)
    return (
        select(func.coalesce(func.sum(getattr(credit_note, amount)), 0))
        .where(credit_note.credited_invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )


def _figures(today: date) -> _Figures:
    paid = paid_on_invoice()
    credited = credited_on_invoice()
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
class DocumentPage(Paged):
    """A page of documents and the totals of every document the filter matched."""

    rows: list[DocumentRow]
    count: int
    net_ore: int
    vat_ore: int
    total_ore: int
    page: int
    per_page: int

    @property
    def total(self) -> int:
        return self.count


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
    figures = _figures(today or copenhagen_date())
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
    figures = _figures(today or copenhagen_date())
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
    today = today or copenhagen_date()
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
    #: Paid by bank transfer and then credited: money the seller must pay back
    #: by hand (card payments are refunded through Stripe by themselves).
    to_pay_back_ore: int
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
        to_pay_back_ore=(
            max(paid + credited - document.total_ore, 0)
            if not document.is_credit_note and document.payment_method != "card"
            else 0
        ),
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
    figures = _figures(copenhagen_date())
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
        return text_cell(sheet, value, font)

    def kroner(ore: int) -> WriteOnlyCell:
        return kroner_cell(sheet, ore)

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
