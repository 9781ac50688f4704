"""The accounting screens: who may see them, documents by period and status, one
document, marking an invoice paid, the overdue list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conference.core.db import db
from conference.core.models import AuditEvent
from conference.invoicing.accounting import (
    Period,
    accounting_overview,
    list_documents,
    overdue_invoices,
    quick_periods,
)
from conference.invoicing.models import InvoicePayment
from conference.invoicing.services import amount_due, document_status
from conference.registration.models import Order
from tests.invoicing.accounting_helpers import make_documents, staff_client

ACCOUNTING_PREFIX = "/staff/accounting"


@pytest.fixture
def documents(edition):
    return make_documents(edition)


@pytest.fixture
def accountant(app):
    return staff_client(app, "accounting")


def _accounting_routes(app, document_id: int):
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(ACCOUNTING_PREFIX):
            continue
        url = rule.build({"document_id": document_id}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, url))
    return routes


# --- access -----------------------------------------------------------------------


def test_every_accounting_route_is_found_and_guarded(app):
    endpoints = {endpoint for endpoint, *_ in _accounting_routes(app, 1)}
    assert endpoints == {
        "invoicing.index",
        "invoicing.documents",
        "invoicing.document",
        "invoicing.mark_paid",
        "invoicing.document_pdf",
        "invoicing.document_ubl",
        "invoicing.overdue",
        "invoicing.vat",
        "invoicing.ledger_csv",
        "invoicing.ledger_xlsx",
        "invoicing.archive",
    }
    for endpoint in endpoints:
        allowed = app.view_functions[endpoint].allowed_roles
        assert "checkin" not in allowed
        expected = (
            {"accounting"} if endpoint == "invoicing.mark_paid" else {"accounting", "organiser"}
        )
        assert allowed == expected, endpoint


def test_anonymous_visitors_go_to_the_login_page(app, client, documents):
    for endpoint, method, url in _accounting_routes(app, documents.overdue.id):
        response = client.open(url, method=method, data={"amount": "1", "paid_on": "2020-01-01"})
        assert response.status_code == 302, endpoint
        assert response.headers["Location"].startswith("/staff/login?next="), endpoint
    assert db.session.scalar(select(func.count(InvoicePayment.id))) == 1  # the paid one


def test_checkin_staff_get_403_everywhere(app, documents):
    client = staff_client(app, "checkin")
    for endpoint, method, url in _accounting_routes(app, documents.overdue.id):
        response = client.open(url, method=method, data={"amount": "1", "paid_on": "2020-01-01"})
        assert response.status_code == 403, endpoint
    assert "Accounting" not in client.get("/staff/").get_data(as_text=True)


def test_accounting_gets_every_screen_and_file(app, accountant, documents):
    for document in documents.all:
        for endpoint, method, url in _accounting_routes(app, document.id):
            if method == "POST":
                continue
            response = accountant.get(url)
            assert response.status_code == 200, (endpoint, document.number)
            response.close()
    html = accountant.get("/staff/").get_data(as_text=True)
    assert f'href="{ACCOUNTING_PREFIX}/"' in html


def test_organisers_may_look_but_not_record_payments(app, documents):
    client = staff_client(app, "organiser")
    page = client.get(f"{ACCOUNTING_PREFIX}/documents/{documents.overdue.id}")
    assert page.status_code == 200
    assert "Record payment" not in page.get_data(as_text=True)
    refused = client.post(
        f"{ACCOUNTING_PREFIX}/documents/{documents.overdue.id}/payments",
        data={"paid_on": documents.today.isoformat(), "amount": "100"},
    )
    assert refused.status_code == 403
    assert document_status(documents.overdue) == "overdue"


def test_an_unknown_document_is_404(accountant):
    assert accountant.get(f"{ACCOUNTING_PREFIX}/documents/999999").status_code == 404
    assert accountant.get(f"{ACCOUNTING_PREFIX}/documents/999999/pdf").status_code == 404


# --- the list ---------------------------------------------------------------------


def _numbers(page) -> set[str]:
    return {row.number for row in page.rows}


def test_the_sql_status_is_document_status(documents):
    rows = list_documents(documents.everything).rows
    assert len(rows) == 6
    for row in rows:
        document = next(d for d in documents.all if d.id == row.id)
        assert row.status == document_status(document), row.number
    assert {row.number: row.status for row in rows} == {
        documents.unpaid.number: "unpaid",
        documents.partial_credit.number: "credit_note",
        documents.overdue.number: "overdue",
        documents.paid.number: "paid",
        documents.credited.number: "credited",
        documents.full_credit.number: "credit_note",
    }


def test_list_by_period(documents):
    assert _numbers(list_documents(documents.today_period)) == {
        documents.unpaid.number,
        documents.partial_credit.number,
    }
    assert _numbers(list_documents(documents.old_period)) == {
        documents.overdue.number,
        documents.paid.number,
        documents.credited.number,
        documents.full_credit.number,
    }
    # Both ends of a period are included.
    day = documents.overdue.issued_on
    assert documents.overdue.number in _numbers(list_documents(Period(day, day)))
    before = day - timedelta(days=1)
    assert documents.overdue.number not in _numbers(list_documents(Period(before, before)))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("all", {"unpaid", "partial_credit", "overdue", "paid", "credited", "full_credit"}),
        ("unpaid", {"unpaid", "overdue"}),
        ("overdue", {"overdue"}),
        ("paid", {"paid"}),
        ("credited", {"credited"}),
        ("credit_notes", {"partial_credit", "full_credit"}),
    ],
)
def test_list_by_status(documents, status, expected):
    numbers = {getattr(documents, name).number for name in expected}
    assert _numbers(list_documents(documents.everything, status)) == numbers


def test_list_totals_count_credit_notes_negative_across_pages(documents):
    everything = list_documents(documents.everything, per_page=2)
    assert (everything.count, everything.pages, len(everything.rows)) == (6, 3, 2)
    invoices = [documents.unpaid, documents.overdue, documents.paid, documents.credited]
    notes = [documents.partial_credit, documents.full_credit]
    assert everything.total_ore == sum(d.total_ore for d in invoices) - sum(
        d.total_ore for d in notes
    )
    assert everything.vat_ore == sum(d.vat_ore for d in invoices) - sum(d.vat_ore for d in notes)
    assert everything.net_ore + everything.vat_ore == everything.total_ore
    # A page beyond the last shows the last one.
    assert list_documents(documents.everything, per_page=2, page=9).page == 3


def test_list_page_shows_the_columns_and_links(accountant, documents):
    period = documents.everything
    html = accountant.get(
        f"{ACCOUNTING_PREFIX}/documents",
        query_string={"start": period.start.isoformat(), "end": period.end.isoformat()},
    ).get_data(as_text=True)
    for document in documents.all:
        assert f'href="{ACCOUNTING_PREFIX}/documents/{document.id}"' in html
        assert document.number in html
    for text in (
        "Odense Kommune, Borgerservice",
        "EAN 5798000000018",
        "CVR 14814833",
        "Overdue",
        "Paid",
        "Credited",
        "Credit note",
        "6 documents.",
        "Total of 6 documents",
        "DKK\xa0-3,218.75",  # a one-place credit note counts negative
    ):
        assert text in html, text


def test_list_page_filters_by_status_and_keeps_the_period(accountant, documents):
    period = documents.everything
    html = accountant.get(
        f"{ACCOUNTING_PREFIX}/documents",
        query_string={
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "status": "paid",
        },
    ).get_data(as_text=True)
    assert documents.paid.number in html
    assert documents.overdue.number not in html
    assert "1 document." in html


def test_list_defaults_to_this_month(accountant, documents):
    this_month = quick_periods(documents.today)["this_month"]
    html = accountant.get(f"{ACCOUNTING_PREFIX}/documents").get_data(as_text=True)
    assert documents.unpaid.number in html
    assert (documents.overdue.number in html) == (documents.overdue.issued_on >= this_month.start)


def test_an_end_before_the_start_is_explained(accountant, documents):
    page = accountant.get(
        f"{ACCOUNTING_PREFIX}/documents", query_string={"start": "2027-02-01", "end": "2027-01-01"}
    )
    assert page.status_code == 200
    assert "The end date is before the start date." in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/", "/documents", "/vat", "/ledger.csv", "/ledger.xlsx", "/archive.zip"]
)
def test_only_an_end_date_means_the_month_it_falls_in(accountant, documents, path):
    response = accountant.get(f"{ACCOUNTING_PREFIX}{path}", query_string={"end": "2020-01-31"})
    assert response.status_code == 200
    if path == "/documents":
        html = response.get_data(as_text=True)
        assert "2020" in html and documents.unpaid.number not in html


def test_quick_periods():
    from datetime import date

    periods = quick_periods(date(2027, 1, 15))
    assert periods["this_month"] == Period(date(2027, 1, 1), date(2027, 1, 31))
    assert periods["last_month"] == Period(date(2026, 12, 1), date(2026, 12, 31))
    assert periods["this_quarter"] == Period(date(2027, 1, 1), date(2027, 3, 31))
    assert periods["last_quarter"] == Period(date(2026, 10, 1), date(2026, 12, 31))
    assert periods["this_year"] == Period(date(2027, 1, 1), date(2027, 12, 31))
    assert periods["last_year"] == Period(date(2026, 1, 1), date(2026, 12, 31))
    leap = quick_periods(date(2028, 3, 31))
    assert leap["last_month"] == Period(date(2028, 2, 1), date(2028, 2, 29))


# --- one document -------------------------------------------------------------------


def test_document_page_shows_lines_payments_and_credit_notes(accountant, documents):
    html = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{documents.unpaid.id}").get_data(
        as_text=True
    )
    for text in (
        documents.unpaid.number,
        documents.unpaid.lines[0]["description"],
        "Aarhus Kommune, Digitalisering",
        "5798000000001",
        "HJ-4711",
        "1234-5678-90",
        "PO-2026-17",
        documents.partial_credit.number,
        f"{ACCOUNTING_PREFIX}/documents/{documents.unpaid.id}/pdf",
        f"{ACCOUNTING_PREFIX}/documents/{documents.unpaid.id}/ubl",
        "Record payment",
        "No payments recorded yet.",
    ):
        assert text in html, text
    # The amount still due is filled in: 9.656,25 less a credited place of 3.218,75.
    assert 'value="6437.50"' in html

    note = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{documents.partial_credit.id}").get_data(
        as_text=True
    )
    assert "This credit note corrects invoice" in note
    assert f'href="{ACCOUNTING_PREFIX}/documents/{documents.unpaid.id}"' in note
    assert "Record payment" not in note

    paid = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{documents.paid.id}").get_data(
        as_text=True
    )
    assert "Bank transfer" in paid and "Record payment" not in paid


def test_pdf_and_ubl_downloads_are_attachments_named_after_the_document(accountant, documents):
    from conference.invoicing.models import InvoiceFile

    document = documents.overdue
    pdf = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{document.id}/pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")
    assert pdf.headers["Content-Disposition"] == (
        f"attachment; filename=Faktura-{document.number}.pdf"
    ) or pdf.headers["Content-Disposition"].endswith(f"-{document.number}.pdf")
    assert "no-store" in pdf.headers["Cache-Control"]
    # Rendered once and stored: the second download serves the same bytes.
    stored = db.session.get(InvoiceFile, document.id)
    assert stored is not None and stored.pdf == pdf.data
    assert accountant.get(f"{ACCOUNTING_PREFIX}/documents/{document.id}/pdf").data == pdf.data

    ubl = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{document.id}/ubl")
    assert ubl.status_code == 200
    assert ubl.mimetype == "application/xml"
    assert ubl.headers["Content-Disposition"].startswith("attachment; filename=")
    assert ubl.headers["Content-Disposition"].endswith(f"-{document.number}.xml")
    assert document.number.encode() in ubl.data

    note = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{documents.full_credit.id}/ubl")
    assert b"<CreditNote" in note.data


# --- marking paid -------------------------------------------------------------------


def _pay(client, document, **data):
    return client.post(f"{ACCOUNTING_PREFIX}/documents/{document.id}/payments", data=data)


def _payments_and_audits() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(InvoicePayment.id))),
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "invoice.paid")
        ),
    )


def test_mark_an_overdue_invoice_paid(accountant, documents):
    invoice = documents.overdue
    response = _pay(accountant, invoice, paid_on=documents.today.isoformat(), amount="6437.50")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/documents/{invoice.id}")
    db.session.expire_all()
    assert document_status(invoice) == "paid"
    assert amount_due(invoice) == 0
    payment = invoice.payments[-1]
    assert (payment.amount_ore, payment.method, payment.paid_on) == (
        643_750,
        "bank",
        documents.today,
    )
    assert payment.recorded_by.startswith("staff:")
    audit = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "invoice.paid", AuditEvent.object_id == invoice.id
        )
    )
    assert audit.actor == payment.recorded_by
    assert audit.data["amount_ore"] == 643_750
    assert db.session.get(Order, invoice.order_id).payment_status == "paid"
    page = accountant.get(response.headers["Location"]).get_data(as_text=True)
    assert "Payment of DKK\xa06,437.50 on" in page
    assert "Record payment" not in page


def test_a_paid_invoice_credited_afterwards_says_what_to_pay_back(accountant, edition):
    from conference.registration.services import cancel_attendee
    from tests.invoicing.conftest import place_invoiced_order

    order, invoice = place_invoiced_order(edition, 3)
    today = invoice.issued_on
    assert _pay(accountant, invoice, paid_on=today.isoformat(), amount="9656.25").status_code == 302
    page = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{invoice.id}").get_data(as_text=True)
    assert 'id="to-pay-back"' not in page

    cancel_attendee(db.session.get(Order, order.id).attendees[0], actor="staff:1", reason="Syg")
    db.session.commit()
    page = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{invoice.id}").get_data(as_text=True)
    assert 'id="to-pay-back">DKK\xa03,218.75<' in page


def test_a_part_payment_leaves_the_rest_due(accountant, documents):
    invoice = documents.overdue
    assert (
        _pay(
            accountant, invoice, paid_on=documents.today.isoformat(), amount="1.000,00"
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert amount_due(invoice) == 643_750 - 100_000
    assert document_status(invoice) == "overdue"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"paid_on": "2999-01-01", "amount": "100"}, "paid_on", "cannot be in the future"),
        ({"paid_on": "2001-01-01", "amount": "100"}, "paid_on", "before the invoice date"),
        ({"paid_on": "", "amount": "100"}, "paid_on", "Enter the date the money arrived."),
        ({"paid_on": "not a date", "amount": "100"}, "paid_on", "Not a valid date"),
        ({"amount": "0"}, "amount", "The amount must be more than 0."),
        ({"amount": "-5"}, "amount", "Enter an amount in kroner"),
        ({"amount": "lots"}, "amount", "Enter an amount in kroner"),
        ({"amount": ""}, "amount", "Enter the amount paid."),
        ({"amount": "6437.51"}, "amount", "more than the DKK\xa06,437.50 still due"),
    ],
)
def test_a_refused_payment_is_explained_next_to_its_field_and_changes_nothing(
    accountant, documents, data, field, message
):
    data = {"paid_on": documents.today.isoformat(), **data}
    before = _payments_and_audits()
    response = _pay(accountant, documents.overdue, **data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error_start = html.index(f'id="{field}-error"')
    assert message in html[error_start : error_start + 300]
    assert _payments_and_audits() == before
    db.session.expire_all()
    assert document_status(documents.overdue) == "overdue"


def test_more_than_due_counts_earlier_payments_and_credit_notes(accountant, documents):
    # 9.656,25 invoiced, 3.218,75 credited: 6.437,50 is due, a cent more is refused.
    assert (
        _pay(
            accountant, documents.unpaid, amount="6437.51", paid_on=documents.today.isoformat()
        ).status_code
        == 422
    )
    assert (
        _pay(
            accountant, documents.unpaid, amount="6437.50", paid_on=documents.today.isoformat()
        ).status_code
        == 302
    )
    assert _pay(
        accountant, documents.unpaid, amount="0.01", paid_on=documents.today.isoformat()
    ).status_code in (302, 422)
    db.session.expire_all()
    assert amount_due(documents.unpaid) == 0


def test_a_credit_note_cannot_be_marked_paid(accountant, documents):
    before = _payments_and_audits()
    response = _pay(
        accountant, documents.partial_credit, paid_on=documents.today.isoformat(), amount="10"
    )
    assert response.status_code == 422
    assert "A credit note is not paid." in response.get_data(as_text=True)
    assert _payments_and_audits() == before


def test_marking_paid_in_danish(accountant, documents):
    accountant.get(f"{ACCOUNTING_PREFIX}/?lang=da")
    page = accountant.get(f"{ACCOUNTING_PREFIX}/documents/{documents.overdue.id}")
    assert 'value="6437,50"' in page.get_data(as_text=True)
    assert (
        _pay(
            accountant, documents.overdue, paid_on=documents.today.isoformat(), amount="6.437,50"
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert document_status(documents.overdue) == "paid"


# --- overdue --------------------------------------------------------------------------


def test_an_invoice_is_overdue_once_its_due_date_has_passed(documents):
    invoice = documents.overdue
    assert document_status(invoice, today=invoice.due_on) == "unpaid"
    assert document_status(invoice, today=invoice.due_on + timedelta(days=1)) == "overdue"
    assert overdue_invoices(today=invoice.due_on).count == 0
    late = overdue_invoices(today=invoice.due_on + timedelta(days=1))
    assert [row.number for row in late.rows] == [invoice.number]
    assert late.rows[0].days_overdue(invoice.due_on + timedelta(days=1)) == 1


def test_overdue_page_lists_days_overdue_and_whom_to_write_to(accountant, documents):
    invoice = documents.overdue
    html = accountant.get(f"{ACCOUNTING_PREFIX}/overdue").get_data(as_text=True)
    assert invoice.number in html
    assert "Ole Olsen" in html
    assert 'href="mailto:ole@odense.dk?subject=Invoice%20' in html
    days = (documents.today - invoice.due_on).days
    assert days == 15
    assert f'<span class="badge badge-bad">{days}</span>' in html
    assert "DKK\xa06,437.50" in html
    for other in (documents.unpaid, documents.paid, documents.credited):
        assert other.number not in html
    assert "1 invoice is overdue." in html


def test_the_start_page_counts_what_is_overdue_and_unpaid(accountant, documents):
    overview = accounting_overview()
    assert (overview.overdue.count, overview.overdue.amount_due_ore) == (1, 643_750)
    assert (overview.not_yet_due.count, overview.not_yet_due.amount_due_ore) == (1, 643_750)
    html = accountant.get(f"{ACCOUNTING_PREFIX}/").get_data(as_text=True)
    assert 'id="stat-overdue"' in html
    overdue_stat = html[html.index('id="stat-overdue"') :]
    assert '<dd class="value">1</dd>' in overdue_stat[:400]
    assert f"{ACCOUNTING_PREFIX}/overdue" in html
