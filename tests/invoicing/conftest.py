"""Fixtures that give issued invoices and credit notes made the way the app makes them."""

from __future__ import annotations

import pytest

from conference.core.db import db
from conference.invoicing.models import Invoice
from conference.invoicing.services import (
    InvoiceLine,
    invoice_for_order,
    issue_credit_note,
    issue_invoice,
)
from conference.registration.models import Order
from conference.registration.services import place_order
from tests.conftest import booking_details


def place_invoiced_order(edition, count: int = 2, **overrides):
    """Place an order through the registration service and return (order, invoice)."""
    placed = place_order(edition, booking_details(edition, count, **overrides))
    order = placed.order
    invoice = invoice_for_order(order) or issue_invoice(order)
    db.session.commit()
    return order, invoice


@pytest.fixture
def public_invoice(edition) -> Invoice:
    """A municipality's invoice for three places, with EAN, personreference and kontostreng."""
    return place_invoiced_order(edition, 3)[1]


@pytest.fixture
def company_invoice(edition) -> Invoice:
    """A private company's invoice (CVR, no EAN), in English."""
    return place_invoiced_order(
        edition,
        1,
        organisation="Netcompany A/S",
        organisation_type="private",
        invoice_organisation="Netcompany A/S",
        cvr="14814833",
        ean=None,
        personreference=None,
        language="en",
    )[1]


@pytest.fixture
def partial_credit_note(public_invoice) -> Invoice:
    """A credit note taking back one of the three places of ``public_invoice``."""
    line = public_invoice.lines[0]
    order = db.session.get(Order, public_invoice.order_id)
    note = issue_credit_note(
        public_invoice,
        [
            InvoiceLine(
                description=line["description"],
                quantity=1,
                unit_net_ore=line["unit_net_ore"],
                vat_percent=line["vat_percent"],
            )
        ],
        order=order,
        reason="",
    )
    db.session.commit()
    return note


@pytest.fixture
def card_invoice(edition) -> Invoice:
    """A company's invoice for two places paid by card (English), as the card path makes it."""
    from conference.invoicing.services import record_payment

    order, _ = place_invoiced_order(
        edition,
        2,
        organisation="Netcompany A/S",
        organisation_type="private",
        invoice_organisation="Netcompany A/S",
        cvr="14814833",
        ean=None,
        personreference=None,
        buyer_order_number=None,
        accounting_cost=None,
        language="en",
    )
    # The card path issues the invoice after payment; the order's method is what it prints.
    order.payment_method = "card"
    invoice = issue_invoice(order)
    record_payment(
        invoice,
        paid_on=invoice.issued_on,
        amount_ore=invoice.total_ore,
        method="card",
        actor="stripe",
    )
    db.session.commit()
    return invoice


def credit_in_full(invoice: Invoice, reason: str = "") -> Invoice:
    """A credit note taking back every line of ``invoice``."""
    order = db.session.get(Order, invoice.order_id)
    note = issue_credit_note(
        invoice,
        [
            InvoiceLine(
                description=line["description"],
                quantity=line["quantity"],
                unit_net_ore=line["unit_net_ore"],
                vat_percent=line["vat_percent"],
            )
            for line in invoice.lines
        ],
        order=order,
        reason=reason,
    )
    db.session.commit()
    return note


@pytest.fixture
def full_credit_note(company_invoice) -> Invoice:
    """A credit note taking back all of ``company_invoice`` (English)."""
    return credit_in_full(company_invoice, reason="The order was cancelled.")


@pytest.fixture
def card_credit_note(card_invoice) -> Invoice:
    """A credit note for a card-paid invoice: the money goes back to the card."""
    return credit_in_full(card_invoice)
