"""Issuing: totals add up to the øre, numbers run gap-free, issued documents never change."""

from __future__ import annotations

import pytest

from conference.core.db import db
from conference.invoicing.models import ImmutableDocument, Invoice
from conference.invoicing.services import NothingToCredit, amount_due, document_status


def test_invoice_for_three_places_adds_up(public_invoice):
    invoice = public_invoice
    assert invoice.number.endswith("00001")
    assert invoice.lines[0]["quantity"] == 3
    assert invoice.lines[0]["unit_net_ore"] == 257_500
    assert invoice.net_ore == 3 * 257_500
    # 25 % of 7.725,00 kr. is 1.931,25 kr.
    assert invoice.vat_ore == 193_125
    assert invoice.total_ore == invoice.net_ore + invoice.vat_ore == 965_625
    assert invoice.buyer_ean == "5798000000001"
    assert invoice.buyer_reference == "HJ-4711"
    assert invoice.buyer_accounting_cost == "1234-5678-90"
    assert (invoice.due_on - invoice.issued_on).days == 30
    assert invoice.seller["cvr"] and invoice.seller["postcode"] == "2300"
    assert document_status(invoice) == "unpaid"


def test_issued_invoice_refuses_changes_and_deletion(public_invoice):
    public_invoice.buyer_name = "Someone else"
    with pytest.raises(ImmutableDocument):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(Invoice, public_invoice.id))
    with pytest.raises(ImmutableDocument):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(Invoice, public_invoice.id).buyer_name != "Someone else"


def test_partial_credit_note_has_its_own_series_and_reduces_what_is_due(
    public_invoice, partial_credit_note
):
    assert partial_credit_note.number.startswith("K")
    assert partial_credit_note.number.endswith("00001")
    assert partial_credit_note.credited_invoice_id == public_invoice.id
    assert partial_credit_note.total_ore == 321_875
    assert public_invoice.number in partial_credit_note.note
    assert amount_due(public_invoice) == 965_625 - 321_875


def test_cannot_credit_more_than_the_invoice(public_invoice, partial_credit_note):
    from conference.invoicing.services import InvoiceLine, issue_credit_note
    from conference.registration.models import Order

    order = db.session.get(Order, public_invoice.order_id)
    line = public_invoice.lines[0]
    with pytest.raises(NothingToCredit):
        issue_credit_note(
            public_invoice,
            [InvoiceLine(line["description"], 3, line["unit_net_ore"], line["vat_percent"])],
            order=order,
            reason="",
        )


def test_public_buyers_never_get_more_than_thirty_days(app, edition):
    from tests.invoicing.conftest import place_invoiced_order

    app.config["INVOICE_PAYMENT_DAYS"] = 45
    _, public = place_invoiced_order(edition, 1)
    _, company = place_invoiced_order(
        edition,
        1,
        booker_email="it@firma.dk",
        organisation_type="private",
        cvr="14814833",
        ean=None,
    )
    assert (public.due_on - public.issued_on).days == 30
    assert (company.due_on - company.issued_on).days == 45
