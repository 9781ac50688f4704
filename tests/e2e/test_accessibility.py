"""Accessibility: axe-core on every public, manage and check-in page, in Danish and English.

axe-core comes from the npm registry (package.json at the repository root; `make
install` runs `npm ci`), never from a CDN. Each test walks one area's pages in a
real browser, runs axe on every page and state, and fails on any violation of
impact "serious" or "critical", listing them all (rule, help text, elements).
Moderate and minor findings are printed, so a failing run shows them too.

The pages: the event page (open, few places left, fully booked, closed, not yet
open), the registration form (empty, with errors, one wrong field, rows added by
its script, with card payment, not enough places), the fully-booked answer, the
waiting list (waiting, offer open, offered on the booker's link), the front page
without an edition, the 404 page; the confirmation and manage pages of booker and
attendee (also after the transfer deadline), the transfer form (empty, errors,
outside the organisation, after the deadline), the old link's handed-on page; the
card payment pages in every state; staff login (also refused) and the door (empty,
green, red, empty code, search with and without results).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from conference.backoffice.services import set_capacity
from conference.checkin.services import ticket_payload
from conference.core.db import db, utcnow
from conference.payments.models import CheckoutSession, CheckoutStatus
from conference.registration.models import OrderStatus
from conference.registration.services import place_order
from tests.auth.helpers import PASSWORD, make_staff
from tests.conftest import booking_details
from tests.mail.helpers import mail_texts

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
LANGUAGES = ["da", "en"]
FAILING_IMPACTS = ("serious", "critical")


@pytest.fixture
def axe_page(browser):
    if not AXE.exists():
        message = "axe-core is not installed (make install runs npm ci)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # axe goes in as an init script, registered once for the context: Chromium
    # evaluates it in every new document before the page's own scripts, outside the
    # page's content security policy, so the pages are audited exactly as served
    # (CSP and all). page.add_script_tag(path=...) would instead write axe into each
    # page as an inline <script>, which the CSP (script-src 'self') rightly blocks; it
    # would need bypass_csp=True and costs 0.3 s more per page.
    context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900})
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


class Audit:
    """Runs axe on page after page and keeps what it found, per page."""

    def __init__(self, page, language: str) -> None:
        self.page = page
        self.language = language
        self.failing: list[str] = []
        self.other: list[str] = []

    def check(self, name: str) -> None:
        page = self.page
        assert page.get_attribute("html", "lang") == self.language, (
            f"{name} is not in {self.language}"
        )
        result = page.evaluate(
            "() => axe.run(document, {resultTypes: ['violations']})"
            ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " targets: v.nodes.map(n => n.target.join(' '))})))"
        )
        label = f"[{self.language}] {name} ({page.url})"
        for violation in result:
            targets = violation["targets"]
            elements = ", ".join(targets[:6]) + (
                f" (+{len(targets) - 6} more)" if targets[6:] else ""
            )
            rule = f"{violation['impact']} {violation['id']}: {violation['help']}"
            line = f"{label}: {rule} -> {elements}"
            (self.failing if violation["impact"] in FAILING_IMPACTS else self.other).append(line)

    def assert_clean(self) -> None:
        for line in self.other:
            print(line)
        assert not self.failing, "axe found serious or critical violations:\n" + "\n".join(
            self.failing
        )


def _quiet() -> None:
    # SQLite: the test thread holds no transaction while the server works.
    db.session.rollback()


def _mail_link(kind: str, pattern: str) -> str:
    _quiet()
    texts = mail_texts(kind)
    body = texts[-1] if texts else None
    _quiet()
    assert body, f"no {kind} e-mail"
    return re.search(pattern, body).group(0)


def _fill_registration(page, count: int) -> None:
    for index in range(count):
        page.fill(f"#attendees-{index}-name", f"Kollega {index + 1}")
        page.fill(f"#attendees-{index}-email", f"kollega{index + 1}@aarhus.dk")
    page.fill("#booker_name", "Hanne Jensen")
    page.fill("#booker_email", "hanne@aarhus.dk")
    page.fill("#booker_phone", "+45 87 05 00 00")
    page.fill("#organisation", "Aarhus Kommune")
    page.check("input[name=organisation_type][value=municipality]")
    page.fill("#invoice_organisation", "Aarhus Kommune, Digitalisering")
    page.fill("#invoice_address", "Rådhuspladsen 2")
    page.fill("#invoice_postcode", "8000")
    page.fill("#invoice_city", "Aarhus C")
    page.fill("#ean", "5798000000001")


def _submit_registration(page) -> None:
    page.click("#registration-form .actions button[type=submit]")


@pytest.mark.parametrize("language", LANGUAGES)
def test_event_page_and_registration_form(app, live_server, axe_page, edition, language):
    slug = edition.slug
    _quiet()
    page = axe_page
    audit = Audit(page, language)

    page.goto(f"{live_server}/e/{slug}?lang={language}")
    audit.check("event page")
    page.goto(f"{live_server}/e/{slug}/register?n=2")
    audit.check("registration form, empty")
    _submit_registration(page)
    page.wait_for_selector("#error-summary")
    audit.check("registration form with validation errors")
    _fill_registration(page, 2)
    page.fill("#ean", "5798000000002")  # a wrong check digit
    _submit_registration(page)
    page.wait_for_selector("#ean[aria-invalid=true]")
    audit.check("registration form with one wrong field")
    # The script adds and renumbers participant rows: no duplicate ids, every field labelled.
    page.select_option("#attendee_count", "4")
    page.wait_for_selector("#attendees-3-name")
    audit.check("registration form, rows added by the script")

    # With a Stripe key the form offers card payment (rendering it asks Stripe nothing).
    app.config["STRIPE_SECRET_KEY"] = "sk_test_only_for_the_form"
    page.goto(f"{live_server}/e/{slug}/register")
    page.wait_for_selector("#payment")
    audit.check("registration form with card payment")
    _submit_registration(page)
    page.wait_for_selector("#error-summary")
    audit.check("registration form with card payment and validation errors")
    app.config["STRIPE_SECRET_KEY"] = None

    # "Send me my link again": the form, its error, and the answer.
    page.goto(f"{live_server}/e/{slug}/my-link")
    audit.check("link request form")
    page.click("#link-request-form button[type=submit]")
    page.wait_for_selector("#error-summary")
    audit.check("link request form with an error")
    page.fill("#email", "nobody@example.dk")
    page.click("#link-request-form button[type=submit]")
    page.wait_for_selector(".notice-success")
    audit.check("link request sent")

    edition.registration_closes_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    _quiet()
    page.goto(f"{live_server}/e/{slug}")
    audit.check("event page, registration closed")
    page.goto(f"{live_server}/e/{slug}/register")
    audit.check("registration closed")
    edition.registration_opens_at = utcnow() + timedelta(days=1)
    edition.registration_closes_at = utcnow() + timedelta(days=2)
    db.session.commit()
    _quiet()
    page.goto(f"{live_server}/e/{slug}")
    audit.check("event page, registration not open yet")
    page.goto(f"{live_server}/e/{slug}/register")
    audit.check("registration not open yet")
    audit.assert_clean()


@pytest.mark.parametrize("language", LANGUAGES)
def test_full_conference_and_waiting_list(live_server, axe_page, small_edition, language):
    edition = small_edition
    place_order(edition, booking_details(edition, 3))
    db.session.commit()
    slug = edition.slug
    _quiet()
    page = axe_page
    audit = Audit(page, language)

    page.goto(f"{live_server}/e/{slug}?lang={language}")
    audit.check("event page, few places left")
    page.goto(f"{live_server}/e/{slug}/register?n=3")
    _fill_registration(page, 3)
    _submit_registration(page)
    page.wait_for_selector("#not-enough-places")
    audit.check("registration form, not enough places")

    # The last places go while the booker looks at the form.
    place_order(edition, booking_details(edition, 2))
    db.session.commit()
    _quiet()
    _submit_registration(page)
    page.wait_for_selector("#not-enough-places[data-places-left='0']")
    audit.check("fully booked answer")
    page.click("#not-enough-places button[type=submit]")
    page.wait_for_url(re.compile(r"/w/"))
    audit.check("waiting list, waiting")
    booker_waiting_url = page.url

    page.goto(f"{live_server}/e/{slug}")
    audit.check("event page, fully booked")
    page.goto(f"{live_server}/e/{slug}/register")
    audit.check("waiting-list form")
    # The same booker sends the form again: one place in the queue is kept.
    page.goto(f"{live_server}/e/{slug}/register?n=3")
    _fill_registration(page, 3)
    _submit_registration(page)
    page.wait_for_selector("#already-waiting")
    audit.check("waiting-list form, already on the waiting list")

    set_capacity(edition, 8, actor="test")
    db.session.commit()
    page.goto(_mail_link("waiting_list_offer", r"http://\S+/w/[A-Za-z0-9_-]+"))
    audit.check("waiting list, offer open")
    page.goto(booker_waiting_url)
    audit.check("waiting list, offered (booker's link)")
    audit.assert_clean()


@pytest.mark.parametrize("language", LANGUAGES)
def test_manage_transfer_and_handed_on_pages(live_server, axe_page, edition, language):
    placed = place_order(edition, booking_details(edition, 2, language=language))
    db.session.commit()
    booker_token = placed.booker_token
    first, second = (a.id for a in placed.order.attendees)
    attendee_token = placed.attendee_tokens[second]
    _quiet()
    page = axe_page
    audit = Audit(page, language)

    page.goto(f"{live_server}/m/{booker_token}?new=1&lang={language}")
    audit.check("confirmation (new order)")
    page.goto(f"{live_server}/m/{booker_token}")
    audit.check("manage page, booker")
    page.goto(f"{live_server}/m/{attendee_token}")
    audit.check("manage page, attendee")

    page.goto(f"{live_server}/m/{attendee_token}/transfer/{second}")
    audit.check("transfer form")
    page.click("#transfer-form button[type=submit]")
    page.wait_for_selector("#error-summary[role=alert] a[href='#name']")
    audit.check("transfer form with validation errors")
    page.fill("#name", "Mads Madsen")
    page.fill("#email", "mads@example.com")
    page.click("#transfer-form button[type=submit]")
    page.wait_for_selector("#outside-warning")
    audit.check("transfer form, address outside the organisation")
    page.fill("#email", "mads@aarhus.dk")
    page.click("#transfer-form button[type=submit]")
    page.wait_for_selector("#handed-on")
    audit.check("handed-on page of the old link")

    edition.transfer_deadline = utcnow() - timedelta(hours=1)
    db.session.commit()
    _quiet()
    page.goto(f"{live_server}/m/{booker_token}")
    audit.check("manage page, booker, after the transfer deadline")
    page.goto(f"{live_server}/m/{booker_token}/transfer/{first}")
    page.wait_for_selector("#transfer-closed")
    audit.check("transfer form after the deadline")
    audit.assert_clean()


@pytest.mark.parametrize("language", LANGUAGES)
def test_card_payment_status_pages(app, live_server, axe_page, edition, language):
    """The pages Stripe sends the booker back to, in every state (no Stripe needed:
    without a Stripe key the success page only reads what is stored)."""
    app.config["STRIPE_SECRET_KEY"] = None
    states = {}
    for name, order_status, checkout_status in [
        ("paid", OrderStatus.CONFIRMED, CheckoutStatus.COMPLETE),
        ("processing", OrderStatus.PENDING_PAYMENT, CheckoutStatus.OPEN),
        ("released", OrderStatus.EXPIRED, CheckoutStatus.EXPIRED),
        ("refunded", OrderStatus.EXPIRED, CheckoutStatus.COMPLETE),
        ("cancelled", OrderStatus.CANCELLED, CheckoutStatus.COMPLETE),
    ]:
        order = place_order(edition, booking_details(edition, 1, language=language)).order
        order.status = order_status
        stripe_id = f"cs_test_{name}"
        db.session.add(
            CheckoutSession(
                stripe_id=stripe_id,
                order=order,
                status=checkout_status,
                amount_total_ore=order.total_gross_ore,
                expires_at=utcnow() + timedelta(minutes=20),
            )
        )
        states[name] = stripe_id
    db.session.commit()
    _quiet()
    page = axe_page
    audit = Audit(page, language)
    for name, stripe_id in states.items():
        page.goto(f"{live_server}/pay/{stripe_id}/done?lang={language}")
        assert page.get_attribute("#payment-status", "data-state") == name
        audit.check(f"card payment, {name}")
    audit.assert_clean()


@pytest.mark.parametrize("language", LANGUAGES)
def test_staff_login_door_and_error_pages(live_server, axe_page, edition, language):
    placed = place_order(edition, booking_details(edition, 2))
    db.session.commit()
    payload = ticket_payload(placed.order.attendees[0])
    make_staff("door@example.dk", "checkin")
    slug = edition.slug
    _quiet()
    page = axe_page
    audit = Audit(page, language)

    page.goto(f"{live_server}/staff/login?lang={language}")
    audit.check("staff login")
    page.fill("input[name=email]", "door@example.dk")
    page.fill("input[name=password]", "wrong")
    page.click("form button[type=submit]")
    page.wait_for_selector(".notice-error")
    audit.check("staff login, wrong password")
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/staff/$"))

    page.goto(f"{live_server}/staff/e/{slug}/checkin")
    audit.check("door, empty")
    page.fill("#code", payload)
    page.click("#scan-form button[type=submit]")
    page.wait_for_selector("#door-result[data-result=admitted]")
    audit.check("door, green answer")
    page.fill("#code", payload)
    page.click("#scan-form button[type=submit]")
    page.wait_for_selector("#door-result.door-refused")
    audit.check("door, red answer")
    page.click("#scan-form button[type=submit]")  # nothing typed
    page.wait_for_selector("#code[aria-invalid=true]")
    audit.check("door, empty code refused")
    page.fill("#q", "Kollega")
    page.click(".door-search button[type=submit]")
    page.wait_for_selector(".door-results")
    audit.check("door, search results")
    page.fill("#q", "Nobody")
    page.click(".door-search button[type=submit]")
    page.wait_for_load_state()
    audit.check("door, no search results")
    audit.assert_clean()


@pytest.mark.parametrize("language", LANGUAGES)
def test_front_page_without_an_edition_and_the_404_page(live_server, axe_page, language):
    page = axe_page
    audit = Audit(page, language)
    page.goto(f"{live_server}/?lang={language}")
    audit.check("front page, no edition")
    response = page.goto(f"{live_server}/e/does-not-exist")
    assert response.status == 404
    audit.check("404 page")
    audit.assert_clean()
