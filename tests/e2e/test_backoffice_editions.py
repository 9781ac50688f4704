"""The organiser's new screens in a real browser, in Danish and English, checked by
axe: the dashboard with its figures and charts, ticket types and access codes, and
copying an edition (a refused slug, then a new edition). Screenshots go to
tests/artifacts/screens/ for a person to look at."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from conference.checkin.services import check_in_code
from conference.core.db import db, utcnow
from conference.events.services import copenhagen_date
from conference.invoicing.services import invoice_for_order, record_payment
from conference.registration.models import Order
from conference.registration.services import AttendeeDetails, place_order
from tests.auth.helpers import make_staff, submit_staff_login
from tests.backoffice.stands_helpers import insert_booking, make_hall
from tests.conftest import booking_details
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_accessibility import LANGUAGES, Audit, axe_page  # noqa: F401

SCREENS = ARTIFACTS / "screens"

ORGANISATIONS = [
    ("Aarhus Kommune", 6, 9),
    ("Københavns Kommune", 5, 8),
    ("Odense Kommune", 4, 6),
    ("Aalborg Kommune", 3, 5),
    ("Vejle Kommune", 3, 3),
    ("Esbjerg Kommune", 2, 2),
    ("Randers Kommune", 2, 2),
    ("Kolding Kommune", 1, 1),
    ("Horsens Kommune", 1, 1),
    ("Silkeborg Kommune", 1, 0),
    ("Herning Kommune", 1, 0),
    ("Netcompany A/S", 1, 0),
]


def _sales(edition) -> None:
    """Orders over the last ten days from twelve organisations, some paid, two arrived,
    an early-bird price, a discount code, and a hall with one stand booked."""
    now = utcnow()
    edition.registration_opens_at = now - timedelta(days=10)
    participant = edition.ticket_types[0]
    participant.early_bird_price_net_ore = 199_500
    participant.early_bird_until = copenhagen_date() + timedelta(days=14)
    db.session.commit()
    for index, (organisation, places, days_ago) in enumerate(ORGANISATIONS):
        details = booking_details(edition, places, organisation=organisation)
        details.booker_email = f"booker{index}@example.dk"
        details.attendees = [
            AttendeeDetails(name=f"Deltager {index}-{n}", email=f"d{index}-{n}@example.dk")
            for n in range(places)
        ]
        placed = place_order(edition, details)
        db.session.flush()
        db.session.get(Order, placed.order.id).created_at = now - timedelta(days=days_ago)
        if index % 3 == 0:
            invoice = invoice_for_order(placed.order)
            record_payment(
                invoice, paid_on=copenhagen_date(), amount_ore=invoice.total_ore, actor="test"
            )
        if index < 2:
            check_in_code(edition, placed.order.attendees[0].ticket_code, actor="test")
    db.session.commit()
    hall = make_hall(edition)
    insert_booking(edition, hall["A1"])


def _shot(page, name: str, language: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}-{language}.png"), full_page=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_dashboard_tickets_and_edition_copy(live_server, axe_page, edition, language):  # noqa: F811
    _sales(edition)
    make_staff()
    slug = edition.slug
    db.session.rollback()
    page = axe_page
    audit = Audit(page, language)
    submit_staff_login(page, live_server, "organiser@example.dk", language)
    page.wait_for_url(re.compile(r"/staff/$"))

    page.goto(f"{live_server}/staff/e/{slug}")
    assert page.locator("#chart-per-day rect.chart-bar").count() == 11
    assert page.locator("#chart-organisations rect.chart-bar").count() == 10
    assert page.locator("#figure-arrived .value").inner_text() == "2"
    audit.check("dashboard")
    _shot(page, "dashboard", language)

    page.goto(f"{live_server}/staff/e/{slug}/tickets")
    audit.check("ticket types and codes")
    _shot(page, "ticket-types", language)
    page.click(f"a[href='/staff/e/{slug}/tickets/new']")
    page.fill("#name", "Studerende")
    page.fill("#price", "1.000,00")
    page.fill("#early_bird_price", "1.500,00")
    page.fill("#early_bird_until", (copenhagen_date() + timedelta(days=5)).isoformat())
    page.click("main form button[type=submit]")
    page.wait_for_selector("#early_bird_price-error")
    audit.check("new ticket type, refused")
    _shot(page, "ticket-type-refused", language)
    page.fill("#early_bird_price", "800,00")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/tickets$"))
    assert page.locator("#ticket-types").inner_text().count("Studerende") == 1

    page.click(f"a[href='/staff/e/{slug}/codes/new']")
    page.fill("#code", "partner27")
    page.check("input[name=pricing][value=discount]")
    page.fill("#price", "")
    page.fill("#max_uses", "5")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#price-error")
    audit.check("new access code, refused")
    _shot(page, "access-code-refused", language)
    page.fill("#price", "1.500,00")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/tickets#codes$"))
    page.click("a:has-text('TALER2027')")
    page.wait_for_selector("#code-uses")
    audit.check("access code")
    _shot(page, "access-code", language)

    page.goto(f"{live_server}/staff/")
    page.click(f"a[href='/staff/e/{slug}/copy']")
    page.fill("#slug", slug)
    page.click("main form button[type=submit]")
    page.wait_for_selector("#slug-error")
    audit.check("copy edition, slug taken")
    _shot(page, "edition-copy-refused", language)
    page.fill("#slug", f"traef-next-{language}")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(rf"/staff/e/traef-next-{language}/tickets$"))
    audit.check("the new edition's ticket types")

    page.goto(f"{live_server}/e/{slug}?lang={language}")
    audit.check("event page with an early-bird price")
    _shot(page, "event-page", language)
    page.goto(f"{live_server}/e/{slug}/register?lang={language}")
    audit.check("registration form with an early-bird price")
    _shot(page, "register", language)
    audit.assert_clean()
