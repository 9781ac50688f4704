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
