"""Fixtures that give issued invoices and credit notes made the way the app makes them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from conference.core.db import db, utcnow
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


# --- stand bookings, made directly from the models ------------------------------------
# (The stands area's booking service is another helper's; these tests need only rows.)


def make_stand_booking(
    edition,
    *,
    code: str = "A12",
    width_cm: int = 300,
    depth_cm: int = 300,
    package_net_ore: int = 1_850_000,
    addons: list[tuple[str, str, int, int]] | None = None,
    language: str = "da",
    ean: str | None = None,
    status: str = "confirmed",
    **fields,
):
    """A hall, a package, a stand and a booking of it, as the booking service leaves them.

    ``addons``: (kind, name, quantity, unit_net_ore) for the booking's add-on snapshot;
    an add-on row is created for each. The stand is marked booked by the booking.
    """
    from conference.core.security import hash_token, new_token
    from conference.stands.models import (
        Stand,
        StandAddon,
        StandBooking,
        StandHall,
        StandPackage,
    )

    if db.session.scalar(select(StandHall).where(StandHall.edition_id == edition.id)) is None:
        db.session.add(StandHall(edition_id=edition.id, name="Hal A"))
    package = StandPackage(
        edition_id=edition.id,
        name="Standardpakke",
        name_en="Standard package",
        price_net_ore=package_net_ore,
        included_passes=2,
        includes="Strøm 230 V\nBord og to stole",
    )
    db.session.add(package)
    db.session.flush()
    stand = Stand(
        edition_id=edition.id,
        code=code,
        width_cm=width_cm,
        depth_cm=depth_cm,
        package_id=package.id,
    )
    db.session.add(stand)
    db.session.flush()
    snapshot = []
    for kind, name, quantity, unit in addons or []:
        addon = StandAddon(edition_id=edition.id, kind=kind, name=name, price_net_ore=unit)
        db.session.add(addon)
        db.session.flush()
        snapshot.append(
            {
                "addon_id": addon.id,
                "kind": kind,
                "name": name,
                "quantity": quantity,
                "unit_net_ore": unit,
                "vat_percent": 25,
            }
        )
    values = {
        "reference": "S" + new_token()[:7].upper(),
        "company": "Netcompany A/S",
        "cvr": "14814833",
        "address": "Grønningen 17",
        "postcode": "1270",
        "city": "København K",
        "contact_name": "Lars Holm",
        "contact_email": "lars@netcompany.example",
        "invoice_email": "faktura@netcompany.example",
        "personreference": None,
        "buyer_order_number": None,
        "accounting_cost": None,
    }
    values.update(fields)
    booking = StandBooking(
        edition_id=edition.id,
        stand_id=stand.id,
        status=status,
        language=language,
        manage_token_hash=hash_token(new_token()),
        ean=ean,
        terms_accepted_at=utcnow(),
        package_name=package.display_name(language),
        package_net_ore=package.price_net_ore,
        package_vat_percent=25,
        included_passes=package.included_passes,
        addons=snapshot,
        **values,
    )
    db.session.add(booking)
    db.session.flush()
    stand.status = "booked" if status == "confirmed" else "reserved"
    stand.booking_id = booking.id
    db.session.flush()
    return booking
