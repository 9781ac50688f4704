"""A municipal booker registers three colleagues with an EAN invoice, in a real browser."""

from __future__ import annotations

import re

from sqlalchemy import select

from conference.core.db import db
from conference.mail.models import OutboxMessage
from conference.registration.models import Order


def _fill_booker_and_invoice(page) -> None:
    page.fill("#booker_name", "Hanne Jensen")
    page.fill("#booker_email", "hanne@aarhus.dk")
    page.fill("#booker_phone", "+45 87 05 00 00")
    page.fill("#organisation", "Aarhus Kommune")
    page.check("input[name=organisation_type][value=municipality]")
    page.fill("#invoice_organisation", "Aarhus Kommune, Digitalisering")
    page.fill("#invoice_address", "Rådhuspladsen 2")
    page.fill("#invoice_postcode", "8000")
    page.fill("#invoice_city", "Aarhus C")
    page.fill("#personreference", "HJ-4711")


def _end_transaction() -> None:
    # On SQLite an open transaction in the test thread would block the server's writes.
    db.session.rollback()


def test_booker_registers_three_colleagues_with_ean(live_server, page, edition):
    slug = edition.slug
    _end_transaction()
    page.goto(f"{live_server}/e/{slug}")
    assert "2.575,00" in page.inner_text("main")
    assert "3.218,75" in page.inner_text("main")
    page.select_option("select[name=n]", "3")
    page.get_by_role("button", name=re.compile("Tilmeld|Register")).first.click()

    for index in range(3):
        page.fill(f"#attendees-{index}-name", f"Kollega {index + 1}")
        page.fill(f"#attendees-{index}-email", f"kollega{index + 1}@aarhus.dk")
    _fill_booker_and_invoice(page)
    # A mistyped EAN is caught next to its field and nothing is registered.
    page.fill("#ean", "5798000000002")
    page.get_by_role("button", name=re.compile(r"\(bind")).click()
    page.wait_for_selector("#ean[aria-invalid=true]")
    assert db.session.scalar(select(Order)) is None
    _end_transaction()
    # The typed participants survived the round trip.
    assert page.input_value("#attendees-2-email") == "kollega3@aarhus.dk"

    page.fill("#ean", "5798000000001")
    page.get_by_role("button", name=re.compile(r"\(bind")).click()
    page.wait_for_url(re.compile(r"/m/[^/]+\?new=1"))
    text = page.inner_text("main")
    order = db.session.scalar(select(Order))
    assert order is not None and order.ean == "5798000000001"
    assert order.reference in text
    for index in range(3):
        assert f"Kollega {index + 1}" in text
    # 3 x 2.575,00 = 7.725,00 + 25 % moms = 9.656,25
    assert "9.656,25" in text
    assert page.locator("img[src*='/qr/']").count() == 3
    # Binding: nothing on the page lets an attendee cancel.
    assert "annuller" not in text.lower() and "cancel" not in text.lower()

    db.session.expire_all()
    recipients = sorted(m.to_address for m in db.session.scalars(select(OutboxMessage)))
    assert recipients == sorted(
        ["hanne@aarhus.dk", "kollega1@aarhus.dk", "kollega2@aarhus.dk", "kollega3@aarhus.dk"]
    )
