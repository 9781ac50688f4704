"""What accounting takes out of the system: the ledger (CSV, XLSX), the VAT totals
that tie to it, and the ZIP of a period's PDF and UBL files."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest
from lxml import etree
from openpyxl import load_workbook

from conference.core.db import db
from conference.invoicing.accounting import Period, ledger, vat_totals, zip_stream
from conference.invoicing.models import InvoiceFile
from tests.invoicing.accounting_helpers import (
    credit,
    days_ago,
    invoice_at,
    make_documents,
    open_registration_long_ago,
    staff_client,
)

ACCOUNTING = "/staff/accounting"
HEADER = [
    "Number",
    "Kind",
    "Date",
    "Buyer",
    "CVR",
    "EAN",
    "Net",
    "VAT",
    "Total",
    "Payment method",
    "Due date",
    "Paid date",
    "Our reference",
]


@pytest.fixture
def documents(edition):
    return make_documents(edition)


@pytest.fixture
def accountant(app):
    return staff_client(app, "accounting")


def _args(period: Period) -> dict:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=";"))


def _kroner_ore(text: str) -> int:
    """Øre of a CSV amount written for Danish Excel: 6437,50 or -3218,75."""
    return int(Decimal(text.replace(",", ".")) * 100)


# --- CSV ----------------------------------------------------------------------------


def test_ledger_csv_for_danish_excel(accountant, documents):
    response = accountant.get(f"{ACCOUNTING}/ledger.csv", query_string=_args(documents.everything))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="ledger_{documents.everything.slug}.csv"'
    )
    assert "no-store" in response.headers["Cache-Control"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in response.data
    rows = _csv_rows(response)
    assert rows[0] == HEADER
    body = rows[1:]
    # In the order they were issued: the old ones first.
    assert [row[0] for row in body] == [
        documents.overdue.number,
        documents.paid.number,
        documents.credited.number,
        documents.full_credit.number,
        documents.unpaid.number,
        documents.partial_credit.number,
    ]
    overdue, paid, _credited, full_credit, _unpaid, partial_credit = body
    assert overdue == [
        documents.overdue.number,
        "Invoice",
        documents.overdue.issued_on.isoformat(),
        "Odense Kommune, Borgerservice",
        "55133018",
        "5798000000018",
        "5150,00",
        "1287,50",
        "6437,50",
        "Invoice",
        documents.overdue.due_on.isoformat(),
        "",
        documents.overdue.our_reference,
    ]
    assert paid[4:6] == ["14814833", ""]
    assert paid[11] == (documents.today - timedelta(days=40)).isoformat()
    assert partial_credit[1] == "Credit note"
    assert partial_credit[6:9] == ["-2575,00", "-643,75", "-3218,75"]
    assert partial_credit[10] == ""  # a credit note falls due on no day
    assert full_credit[8] == "-3218,75"


def test_ledger_csv_follows_the_period(accountant, documents):
    rows = _csv_rows(
        accountant.get(f"{ACCOUNTING}/ledger.csv", query_string=_args(documents.today_period))
    )
    assert [row[0] for row in rows[1:]] == [
        documents.unpaid.number,
        documents.partial_credit.number,
    ]


def test_ledger_cells_cannot_run_as_formulas(app, accountant, edition):
    open_registration_long_ago(edition)
    invoice_at(edition, days_ago(0), 1, invoice_organisation='=HYPERLINK("http://x","y")')
    invoice_at(edition, days_ago(0), 1, invoice_organisation="@SUM(A1:A9)")
    today = Period(date.today() - timedelta(days=1), date.today() + timedelta(days=1))
    rows = _csv_rows(accountant.get(f"{ACCOUNTING}/ledger.csv", query_string=_args(today)))
    assert [row[3] for row in rows[1:]] == ['\'=HYPERLINK("http://x","y")', "'@SUM(A1:A9)"]
    raw = accountant.get(f"{ACCOUNTING}/ledger.csv", query_string=_args(today)).get_data()
    text = raw.decode("utf-8-sig")
    assert ";=" not in text and "\n=" not in text and '"=' not in text

    workbook = accountant.get(f"{ACCOUNTING}/ledger.xlsx", query_string=_args(today))
    sheet = load_workbook(io.BytesIO(workbook.data)).active
    names = [sheet.cell(row=r, column=4) for r in (2, 3)]
    # Shown as the text it is, stored as a string cell: no formula in the file.
    assert [cell.value for cell in names] == ['=HYPERLINK("http://x","y")', "@SUM(A1:A9)"]
    assert {cell.data_type for cell in names} == {"s"}
    with zipfile.ZipFile(io.BytesIO(workbook.data)) as xlsx:
        sheet_xml = xlsx.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml


# --- XLSX ---------------------------------------------------------------------------


def test_ledger_xlsx_has_numbers_and_dates(accountant, documents):
    response = accountant.get(f"{ACCOUNTING}/ledger.xlsx", query_string=_args(documents.everything))
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=ledger_{documents.everything.slug}.xlsx"
    )
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) == 7
    by_number = {row[0]: row for row in rows[1:]}
    overdue = by_number[documents.overdue.number]
    assert overdue[2].date() == documents.overdue.issued_on
    assert overdue[6:9] == (5150, 1287.5, 6437.5)
    assert overdue[10].date() == documents.overdue.due_on
    assert overdue[11] is None
    note = by_number[documents.partial_credit.number]
    assert note[1] == "Credit note"
    assert note[6:9] == (-2575, -643.75, -3218.75)
    paid = by_number[documents.paid.number]
    assert paid[11].date() == documents.today - timedelta(days=40)
    cells = list(sheet.iter_rows(min_row=2, max_row=2))[0]
    assert cells[6].number_format == "#,##0.00" and cells[6].data_type == "n"
    assert cells[2].is_date and cells[2].number_format == "yyyy-mm-dd"


# --- VAT totals ---------------------------------------------------------------------


def test_vat_totals_tie_to_the_ledger_to_the_ore(documents):
    for period in (documents.everything, documents.old_period, documents.today_period):
        rows = ledger(period)
        report = vat_totals(period)
        assert report.totals.vat_ore == sum(row.vat_ore for row in rows), period
        assert report.totals.net_ore == sum(row.net_ore for row in rows), period
        assert report.totals.net_ore + report.totals.vat_ore == sum(row.total_ore for row in rows)
    report = vat_totals(documents.everything)
    assert [line.vat_percent for line in report.rates] == [25]
    line = report.rates[0]
    # Invoiced: 2 + 1 + 1 + 3 places; credited: 1 + 1.
    assert (line.sales_net_ore, line.sales_vat_ore) == (7 * 257_500, 7 * 64_375)
    assert (line.credited_net_ore, line.credited_vat_ore) == (2 * 257_500, 2 * 64_375)
    assert (line.net_ore, line.vat_ore) == (5 * 257_500, 5 * 64_375)
    assert (report.invoice_count, report.credit_note_count) == (4, 2)


def test_vat_totals_tie_with_odd_amounts_and_many_documents(edition):
    """Prices that do not divide evenly: VAT rounded per document, still tied to the øre."""
    from conference.events.models import TicketType

    open_registration_long_ago(edition)
    ticket = edition.ticket_types[0]
    db.session.execute(
        TicketType.__table__.update()
        .where(TicketType.id == ticket.id)
        .values(price_net_ore=123_457)
    )
    db.session.commit()
    db.session.expire_all()
    invoices = [invoice_at(edition, days_ago(days), 1 + days % 3) for days in range(0, 12)]
    assert invoices[1].lines[0]["unit_net_ore"] == 123_457
    assert invoices[1].vat_ore == 61_729  # 25 % of 2.469,14 kr. is 617,285 kr.: rounded up
    for invoice in invoices[::3]:
        credit(invoice, 1)
    period = Period(invoices[-1].issued_on, invoices[0].issued_on)
    rows = ledger(period)
    assert len(rows) == 16
    report = vat_totals(period)
    assert report.totals.vat_ore == sum(row.vat_ore for row in rows)
    assert report.totals.net_ore == sum(row.net_ore for row in rows)


def test_vat_page_shows_the_totals(accountant, documents):
    html = accountant.get(f"{ACCOUNTING}/vat", query_string=_args(documents.everything)).get_data(
        as_text=True
    )
    assert "25 %" in html
    assert "4 invoices" in html and "2 credit notes" in html
    assert "DKK\xa04,506.25" in html  # 7 places of VAT
    assert "DKK\xa0-1,287.50" in html  # less 2 credited
    assert 'id="vat-total"><strong>DKK\xa03,218.75</strong>' in html


# --- the archive --------------------------------------------------------------------


def _zip(accountant, period: Period) -> zipfile.ZipFile:
    response = accountant.get(f"{ACCOUNTING}/archive.zip", query_string=_args(period))
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="documents_{period.slug}.zip"'
    )
    assert response.is_streamed
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def test_zip_holds_exactly_the_periods_documents_as_pdf_and_ubl(accountant, documents):
    archive = _zip(accountant, documents.old_period)
    assert archive.testzip() is None
    names = sorted(archive.namelist())
    expected = [documents.overdue, documents.paid, documents.credited, documents.full_credit]
    assert len(names) == 2 * len(expected)
    for document in expected:
        pdf = [n for n in names if n.endswith(f"-{document.number}.pdf")]
        xml = [n for n in names if n.endswith(f"-{document.number}.xml")]
        assert len(pdf) == 1 and len(xml) == 1, document.number
        assert archive.read(pdf[0]).startswith(b"%PDF-")
        root = etree.fromstring(archive.read(xml[0]))
        local = etree.QName(root).localname
        assert local == ("CreditNote" if document.is_credit_note else "Invoice")
    for document in (documents.unpaid, documents.partial_credit):
        assert not [n for n in names if document.number in n]


def test_zip_renders_missing_pdfs_once_and_stores_them(accountant, documents):
    assert db.session.get(InvoiceFile, documents.overdue.id) is None
    first = _zip(accountant, documents.today_period)
    db.session.expire_all()
    stored = db.session.get(InvoiceFile, documents.unpaid.id)
    assert stored is not None
    pdf_name = next(n for n in first.namelist() if n.endswith(f"{documents.unpaid.number}.pdf"))
    assert first.read(pdf_name) == stored.pdf
    second = _zip(accountant, documents.today_period)
    assert second.read(pdf_name) == stored.pdf


def test_zip_of_an_empty_period_is_an_empty_zip(accountant, documents):
    empty = Period(date(2001, 1, 1), date(2001, 1, 31))
    assert _zip(accountant, empty).namelist() == []


def test_zip_stream_comes_in_pieces_and_opens():
    batches = [[(f"f{b}-{i}.txt", bytes([i]) * 50_000) for i in range(3)] for b in range(4)]
    chunks = list(zip_stream(iter(batches)))
    assert len(chunks) >= 12
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    assert len(archive.namelist()) == 12
    assert archive.read("f3-2.txt") == bytes([2]) * 50_000
