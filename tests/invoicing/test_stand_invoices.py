"""Stand bookings are invoiced like orders: same series, same PDF and UBL, same ledger."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from lxml import etree
from openpyxl import load_workbook

from conference.core.db import db, utcnow
from conference.events.services import copenhagen_date
from conference.invoicing.accounting import Period, vat_totals
from conference.invoicing.models import InvoiceFile
from conference.invoicing.pdf import stored_pdf
from conference.invoicing.services import (
    amount_due,
    credit_stand_booking,
    document_status,
    issue_extra_pass_invoice,
    issue_stand_invoice,
    stand_booking_invoices,
)
from conference.invoicing.ubl import invoice_ubl
from conference.stands.models import AddonKind
from tests.invoicing.accounting_helpers import staff_client
from tests.invoicing.conftest import make_stand_booking, place_invoiced_order
from tests.invoicing.peppol import assert_valid_peppol

ACCOUNTING = "/staff/accounting"
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}

#: 18.500,00 kr. stand, two extra passes at 1.200,00 kr. and power at 850,50 kr.
ADDONS = [
    (AddonKind.EXTRA_PASS, "Ekstra udstillerpas", 2, 120_000),
    (AddonKind.POWER, "Ekstra strøm 16 A", 1, 85_050),
]


@pytest.fixture
def booking(edition):
    booking = make_stand_booking(edition, addons=ADDONS)
    db.session.commit()
    return booking


@pytest.fixture
def stand_invoice(booking):
    invoice = issue_stand_invoice(booking)
    db.session.commit()
    return invoice


def test_stand_invoice_has_the_stand_the_add_ons_and_vat_to_the_ore(
    booking, stand_invoice, edition
):
    invoice = stand_invoice
    stand_line, passes, power = invoice.lines
    assert "Stand A12, 9 m², Standardpakke" in stand_line["description"]
    assert edition.name in stand_line["description"]
    assert (stand_line["quantity"], stand_line["unit_net_ore"]) == (1, 1_850_000)
    assert passes["description"] == "Stand A12: Ekstra udstillerpas"
    assert (passes["quantity"], passes["unit_net_ore"], passes["net_ore"]) == (2, 120_000, 240_000)
    assert (power["quantity"], power["net_ore"]) == (1, 85_050)
    # 18.500 + 2.400 + 850,50 = 21.750,50 kr.; 25 % of it is 5.437,625 -> 5.437,63 kr.
    assert invoice.net_ore == 2_175_050
    assert invoice.vat_ore == 543_763
    assert invoice.total_ore == 2_718_813
    assert invoice.vat_breakdown == [{"vat_percent": 25, "net_ore": 2_175_050, "vat_ore": 543_763}]
    assert invoice.order_id is None
    assert invoice.stand_booking_id == booking.id
    assert invoice.our_reference == booking.reference
    assert invoice.payment_method == "invoice"
    assert invoice.buyer_name == "Netcompany A/S"
    assert invoice.buyer_cvr == "14814833"
    assert invoice.buyer_email == "faktura@netcompany.example"
    assert invoice.buyer_contact == "Lars Holm"
    assert not invoice.buyer_is_public and invoice.buyer_ean is None
    assert "Netcompany A/S" in invoice.note and "A12" in invoice.note
    assert document_status(invoice) == "unpaid"
    assert amount_due(invoice) == 2_718_813


def test_english_booking_gets_an_english_invoice(edition):
    booking = make_stand_booking(edition, code="B3", width_cm=300, depth_cm=450, language="en")
    invoice = issue_stand_invoice(booking)
    db.session.commit()
    assert invoice.language == "en"
    assert "Stand B3, 13.5 m², Standard package" in invoice.lines[0]["description"]
    assert edition.name_en in invoice.lines[0]["description"]
    assert invoice.note == "Exhibitor: Netcompany A/S, stand B3."


def test_stand_and_order_invoices_share_one_gap_free_series(edition, booking):
    _, first = place_invoiced_order(edition, 1)
    stand = issue_stand_invoice(booking)
    db.session.commit()
    _, third = place_invoiced_order(edition, 1, booker_email="anne@aarhus.dk")
    passes = issue_extra_pass_invoice(booking, 1, 120_000, 25)
    db.session.commit()
    numbers = [first.sequence, stand.sequence, third.sequence, passes.sequence]
    assert numbers == [1, 2, 3, 4]
    assert len({first.series_prefix, stand.series_prefix, passes.series_prefix}) == 1
    assert stand.number == f"{stand.series_prefix}00002"


def test_public_exhibitor_with_ean_is_invoiced_by_peppol_within_thirty_days(app, edition):
    app.config["INVOICE_PAYMENT_DAYS"] = 45
    public = make_stand_booking(
        edition,
        code="C1",
        company="KOMBIT A/S",
        ean="5798000000018",
        personreference="KB-17",
        buyer_order_number="PO-99",
        accounting_cost="4711",
    )
    company = make_stand_booking(edition, code="C2")
    public_invoice = issue_stand_invoice(public)
    company_invoice = issue_stand_invoice(company)
    db.session.commit()
    assert public_invoice.buyer_is_public and public_invoice.buyer_ean == "5798000000018"
    assert (public_invoice.due_on - public_invoice.issued_on).days == 30
    assert (company_invoice.due_on - company_invoice.issued_on).days == 45
    tree = etree.fromstring(invoice_ubl(public_invoice))
    endpoint = tree.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
    assert (endpoint.text, endpoint.get("schemeID")) == ("5798000000018", "0088")
    assert tree.findtext("cbc:BuyerReference", namespaces=NS) == "KB-17"
    assert tree.findtext("cbc:AccountingCost", namespaces=NS) == "4711"
    assert tree.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == "PO-99"
    assert tree.findtext("cac:OrderReference/cbc:SalesOrderID", namespaces=NS) == public.reference
    assert_valid_peppol(invoice_ubl(public_invoice), "public stand invoice")


def test_credit_note_of_a_cancelled_booking_takes_back_everything(booking, stand_invoice):
    notes = credit_stand_booking(booking, actor="staff:1", reason="Aflyst af udstilleren.")
    db.session.commit()
    assert len(notes) == 1
    note = notes[0]
    assert note.is_credit_note and note.number.startswith("K")
    assert note.credited_invoice_id == stand_invoice.id
    assert note.stand_booking_id == booking.id and note.order_id is None
    assert note.lines == stand_invoice.lines
    assert (note.net_ore, note.vat_ore, note.total_ore) == (2_175_050, 543_763, 2_718_813)
    assert stand_invoice.number in note.note and "Aflyst af udstilleren." in note.note
    assert document_status(stand_invoice) == "credited"
    assert amount_due(stand_invoice) == 0
    # Nothing is left to credit a second time.
    assert credit_stand_booking(booking, actor="staff:1") == []
    db.session.commit()
    assert [d.id for d in stand_booking_invoices(booking)] == [stand_invoice.id, note.id]


def test_cancelling_after_extra_passes_credits_both_invoices(booking, stand_invoice):
    passes = issue_extra_pass_invoice(booking, 3, 120_000, 25)
    db.session.commit()
    assert passes.lines[0]["quantity"] == 3
    assert "Extra exhibitor pass" not in passes.lines[0]["description"]  # Danish booking
    assert "ekstra udstillerpas" in passes.lines[0]["description"].lower()
    assert (passes.net_ore, passes.vat_ore, passes.total_ore) == (360_000, 90_000, 450_000)
    notes = credit_stand_booking(booking, actor="staff:1")
    db.session.commit()
    assert [n.credited_invoice_id for n in notes] == [stand_invoice.id, passes.id]
    assert [n.total_ore for n in notes] == [2_718_813, 450_000]
    documents = stand_booking_invoices(booking)
    assert [d.id for d in documents] == [stand_invoice.id, passes.id, notes[0].id, notes[1].id]


def test_credit_after_a_partial_credit_takes_back_only_the_rest(booking, stand_invoice):
    from conference.invoicing.services import InvoiceLine, issue_credit_note

    line = stand_invoice.lines[1]  # the two extra passes
    issue_credit_note(
        stand_invoice,
        [InvoiceLine(line["description"], 1, line["unit_net_ore"], line["vat_percent"])],
        booking=booking,
        reason="",
    )
    db.session.commit()
    (rest,) = credit_stand_booking(booking, actor="staff:1")
    db.session.commit()
    assert [(item["description"], item["quantity"]) for item in rest.lines] == [
        (stand_invoice.lines[0]["description"], 1),
        (line["description"], 1),
        (stand_invoice.lines[2]["description"], 1),
    ]
    # The two credit notes add up to the invoice to the øre.
    assert rest.total_ore + 150_000 == stand_invoice.total_ore
    assert amount_due(stand_invoice) == 0


def test_ubl_of_stand_invoice_and_credit_note_pass_the_validator(booking, stand_invoice):
    extra = issue_extra_pass_invoice(booking, 1, 120_000, 25)
    notes = credit_stand_booking(booking, actor="staff:1", reason="Aflyst")
    db.session.commit()
    for document in (stand_invoice, extra, *notes):
        assert_valid_peppol(invoice_ubl(document), f"stand document {document.number}")
    tree = etree.fromstring(invoice_ubl(notes[0]))
    assert (
        tree.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS)
        == stand_invoice.number
    )


def test_pdf_is_rendered_once_and_stored_like_an_order_invoice(stand_invoice):
    pdf = stored_pdf(stand_invoice)
    db.session.commit()
    assert pdf.startswith(b"%PDF-")
    assert db.session.get(InvoiceFile, stand_invoice.id).pdf == pdf
    assert stored_pdf(stand_invoice) == pdf


# --- the accounting screens and exports ------------------------------------------------


@pytest.fixture
def accountant(app):
    return staff_client(app, "accounting")


@pytest.fixture
def stand_documents(booking, stand_invoice):
    (note,) = credit_stand_booking(booking, actor="staff:1")
    db.session.commit()
    return stand_invoice, note


def _today_args() -> dict:
    today = copenhagen_date().isoformat()
    return {"start": today, "end": today}


def test_accounting_pages_list_and_show_stand_documents(accountant, stand_documents):
    invoice, note = stand_documents
    for path in ("/", "/documents", "/overdue", "/vat"):
        response = accountant.get(f"{ACCOUNTING}{path}", query_string=_today_args())
        assert response.status_code == 200, path
    listing = accountant.get(f"{ACCOUNTING}/documents", query_string=_today_args())
    html = listing.get_data(as_text=True)
    assert invoice.number in html and note.number in html
    for document in (invoice, note):
        page = accountant.get(f"{ACCOUNTING}/documents/{document.id}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "Netcompany A/S" in text and document.our_reference in text
        assert accountant.get(f"{ACCOUNTING}/documents/{document.id}/pdf").data.startswith(b"%PDF-")
        ubl = accountant.get(f"{ACCOUNTING}/documents/{document.id}/ubl")
        assert ubl.status_code == 200 and document.number.encode() in ubl.data


def test_overdue_stand_invoice_is_on_the_overdue_list(accountant, edition):
    booking = make_stand_booking(edition, code="D4")
    late = issue_stand_invoice(booking, now=utcnow() - timedelta(days=45))
    db.session.commit()
    html = accountant.get(f"{ACCOUNTING}/overdue").get_data(as_text=True)
    assert late.number in html


def test_ledger_vat_totals_and_zip_contain_stand_documents(accountant, stand_documents):
    invoice, note = stand_documents
    rows = list(
        csv.reader(
            io.StringIO(
                accountant.get(f"{ACCOUNTING}/ledger.csv", query_string=_today_args())
                .get_data()
                .decode("utf-8-sig")
            ),
            delimiter=";",
        )
    )
    body = {row[0]: row for row in rows[1:]}
    assert body[invoice.number][3] == "Netcompany A/S"
    assert body[invoice.number][6:9] == ["21750,50", "5437,63", "27188,13"]
    assert body[note.number][8] == "-27188,13"
    assert body[invoice.number][12] == invoice.our_reference

    workbook = load_workbook(
        io.BytesIO(accountant.get(f"{ACCOUNTING}/ledger.xlsx", query_string=_today_args()).data)
    )
    numbers = [row[0] for row in workbook.active.iter_rows(min_row=2, values_only=True)]
    assert invoice.number in numbers and note.number in numbers

    today = copenhagen_date()
    report = vat_totals(Period(today, today))
    assert (report.invoice_count, report.credit_note_count) == (1, 1)
    assert report.totals.sales_vat_ore == report.totals.credited_vat_ore == 543_763
    assert report.totals.vat_ore == 0

    archive = zipfile.ZipFile(
        io.BytesIO(accountant.get(f"{ACCOUNTING}/archive.zip", query_string=_today_args()).data)
    )
    names = archive.namelist()
    for document in (invoice, note):
        assert any(n.endswith(f"{document.number}.pdf") for n in names)
        xml = next(n for n in names if n.endswith(f"{document.number}.xml"))
        assert_valid_peppol(archive.read(xml), xml)
