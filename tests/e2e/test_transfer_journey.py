"""A place changes hands in a real browser, and the door knows at once.

The old holder transfers from the ticket e-mail's link, the new holder opens
the link in their e-mail, and at check-in the old QR code is refused and the
new one accepted. The QR payload is typed into the code field, as a hand
scanner does (the camera path needs a camera).
"""

from __future__ import annotations

import re

from conference.checkin.services import ticket_payload
from conference.core.db import db
from conference.registration.models import Attendee
from conference.registration.services import place_order
from tests.auth.helpers import PASSWORD, make_staff
from tests.conftest import booking_details
from tests.mail.helpers import mail_texts


def _link_in_mail(kind: str, to: str) -> str:
    texts = mail_texts(kind, to)
    body = texts[-1] if texts else None
    db.session.rollback()  # SQLite: never hold the write lock while the server works
    assert body, f"no {kind} mail to {to}"
    return re.search(r"http://\S+/m/[A-Za-z0-9_-]+", body).group(0)


def test_old_holder_transfers_new_holder_gets_in_old_qr_is_refused(live_server, page, edition):
    placed = place_order(edition, booking_details(edition, 2))
    db.session.commit()
    attendee_id = placed.order.attendees[0].id
    old_payload = ticket_payload(placed.order.attendees[0])
    make_staff("door@example.dk", "checkin")
    slug = edition.slug
    # SQLite: every transaction takes the write lock, so the test thread holds none
    # (not even by reading an expired attribute) while the server works.
    db.session.rollback()

    # The old holder opens the ticket e-mail's link and hands the place on.
    page.goto(_link_in_mail("ticket", "kollega1@aarhus.dk") + "?lang=en")
    assert "Kollega 1" in page.inner_text("main")
    page.click("a.transfer-link")
    page.fill("#name", "Mads Madsen")
    page.fill("#email", "mads@aarhus.dk")
    page.fill("#job_title", "Projektleder")
    page.click("#transfer-form button[type=submit]")
    page.wait_for_selector("#handed-on")
    assert "Mads Madsen" in page.inner_text("#handed-on")
    assert page.locator("img[src*='/qr/']").count() == 0

    # The new holder opens the link in their e-mail and sees their own ticket.
    page.goto(_link_in_mail("transfer_ticket", "mads@aarhus.dk"))
    text = page.inner_text("main")
    assert "Mads Madsen" in text and "Kollega 1" not in text
    assert page.locator("img[src*='/qr/']").count() == 1
    new_payload = ticket_payload(db.session.get(Attendee, attendee_id))
    db.session.rollback()
    assert new_payload != old_payload

    # At the door: the old QR is red, the new one green.
    page.goto(f"{live_server}/staff/login?lang=en")
    page.fill("input[name=email]", "door@example.dk")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("Log in")).click()
    page.wait_for_url(re.compile(r"/staff/$"))
    page.goto(f"{live_server}/staff/e/{slug}/checkin")
    page.fill("#code", old_payload)
    page.click("#scan-form button[type=submit]")
    result = page.locator("#door-result")
    assert result.get_attribute("data-result") == "transferred"
    assert "transferred to another person" in result.inner_text()
    assert "door-refused" in result.get_attribute("class")

    page.fill("#code", new_payload)
    page.click("#scan-form button[type=submit]")
    result = page.locator("#door-result")
    assert result.get_attribute("data-result") == "admitted"
    assert "Mads Madsen" in result.inner_text() and "Aarhus Kommune" in result.inner_text()
    assert "door-ok" in result.get_attribute("class")
    assert re.search(r"1\s*/\s*2", page.inner_text("#door-counts"))


# The browser's camera and BarcodeDetector stand-ins: Debian's Chromium has no
# barcode detection on Linux and the test machine no camera. Everything else is
# the real page and the real script under the real content security policy.
_FAKE_CAMERA = """
window.BarcodeDetector = class {
  constructor(options) { this.formats = options.formats; }
  detect(source) {
    return Promise.resolve(source.srcObject ? [{ rawValue: %s, format: "qr_code" }] : []);
  }
};
navigator.mediaDevices.getUserMedia = function () {
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  canvas.getContext("2d").fillRect(0, 0, 32, 32);
  return Promise.resolve(canvas.captureStream(5));
};
"""


def test_the_camera_scans_a_ticket_where_the_browser_can(live_server, browser, edition):
    import json

    placed = place_order(edition, booking_details(edition, 1))
    db.session.commit()
    payload = ticket_payload(placed.order.attendees[0])
    make_staff("door@example.dk", "checkin")
    slug = edition.slug
    db.session.rollback()

    context = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    try:
        context.add_init_script(_FAKE_CAMERA % json.dumps(payload))
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{live_server}/staff/login?lang=en")
        page.fill("input[name=email]", "door@example.dk")
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name=re.compile("Log in")).click()
        page.wait_for_url(re.compile(r"/staff/$"))
        page.goto(f"{live_server}/staff/e/{slug}/checkin")
        assert page.is_visible("#camera-start")  # only shown where scanning works
        page.click("#camera-start")
        page.wait_for_selector("#door-result")
        assert page.get_attribute("#door-result", "data-result") == "admitted"
        assert "Kollega 1" in page.inner_text("#door-result")
    finally:
        context.close()


def test_without_barcode_detection_the_camera_button_stays_hidden(live_server, page, edition):
    make_staff("door@example.dk", "checkin")
    slug = edition.slug
    db.session.rollback()
    page.goto(f"{live_server}/staff/login?lang=en")
    page.fill("input[name=email]", "door@example.dk")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("Log in")).click()
    page.wait_for_url(re.compile(r"/staff/$"))
    page.goto(f"{live_server}/staff/e/{slug}/checkin")
    assert not page.is_visible("#camera-start")
    assert page.is_visible("#code") and page.is_visible("#q")
