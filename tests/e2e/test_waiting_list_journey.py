"""A full conference: a group joins the waiting list, the organiser raises the
capacity in the back office, and the booker accepts the offer from the e-mail."""

from __future__ import annotations

import re

from sqlalchemy import select

from conference.core.db import db
from conference.registration.models import Order, WaitingListEntry
from conference.registration.services import place_order
from tests.auth.helpers import PASSWORD, make_staff
from tests.conftest import booking_details
from tests.mail.helpers import outbox


def _latest_mail(kind: str) -> tuple[str, str]:
    """(recipient, text) of the newest e-mail of a kind; leaves no transaction open,
    which on SQLite would block the server's writes."""
    db.session.rollback()
    messages = outbox(kind)
    latest = (messages[-1].to_address, messages[-1].body_text) if messages else None
    db.session.rollback()
    assert latest is not None, f"no {kind} e-mail in the outbox"
    return latest


def test_organiser_raises_capacity_and_waiting_group_accepts_offer(
    live_server, page, small_edition
):
    edition = small_edition
    place_order(edition, booking_details(edition, 5))  # the conference is now full
    make_staff("organiser@example.dk")
    slug = edition.slug
    db.session.commit()

    # A booker finds the conference full and puts two colleagues on the waiting list.
    page.goto(f"{live_server}/e/{slug}")
    page.get_by_role("link", name=re.compile("venteliste", re.I)).click()
    # Wait for the form page's load (its deferred script adds the rows on change):
    # choosing before it ran left one row on a busy machine.
    page.wait_for_url(re.compile(rf"/e/{slug}/register"))
    page.select_option("#attendee_count", "2")
    for index in range(2):
        page.fill(f"#attendees-{index}-name", f"Venter {index + 1}")
        page.fill(f"#attendees-{index}-email", f"venter{index + 1}@odense.dk")
    page.fill("#booker_name", "Ole Madsen")
    page.fill("#booker_email", "ole@odense.dk")
    page.fill("#booker_phone", "65 51 12 34")
    page.fill("#organisation", "Odense Kommune")
    page.check("input[name=organisation_type][value=municipality]")
    page.fill("#invoice_organisation", "Odense Kommune")
    page.fill("#invoice_address", "Flakhaven 2")
    page.fill("#invoice_postcode", "5000")
    page.fill("#invoice_city", "Odense C")
    page.fill("#ean", "5798000000001")
    page.get_by_role("button", name=re.compile("Skriv dig på ventelisten")).click()
    page.wait_for_url(re.compile(r"/w/"))
    assert page.inner_text("#position") == "1"  # first in the queue
    # The position starts the panel, at its padding, with no blank line above it.
    panel = page.locator(".waiting-position").bounding_box()
    position = page.locator(".waiting-position .position").bounding_box()
    assert position["y"] - panel["y"] <= 24
    _latest_mail("waiting_list_joined")

    # The organiser raises the capacity by two in the back office.
    page.goto(f"{live_server}/staff/login")
    page.fill("input[name=email]", "organiser@example.dk")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("Log ind")).click()
    page.goto(f"{live_server}/staff/e/{slug}")
    page.fill("input[name=capacity]", "7")
    page.get_by_role("button", name=re.compile("Gem kapacitet")).click()
    assert "1 tilbud" in page.inner_text("main")

    # The offer e-mail went out with a link that holds the places.
    recipient, body = _latest_mail("waiting_list_offer")
    assert recipient == "ole@odense.dk"
    link = re.search(r"http://[^\s]+/w/[A-Za-z0-9_-]+", body).group(0)
    page.goto(link)
    page.get_by_role("button", name=re.compile("Bekræft")).click()
    page.wait_for_url(re.compile(r"/m/[^/]+\?new=1"))
    text = page.inner_text("main")
    assert "Venter 1" in text and "Venter 2" in text

    db.session.rollback()
    order = db.session.scalar(select(Order).where(Order.booker_email == "ole@odense.dk"))
    assert order is not None and len(order.attendees) == 2
    entry = db.session.scalar(select(WaitingListEntry))
    assert entry.status == "accepted"
    db.session.refresh(edition.quotas[0])
    assert edition.quotas[0].taken == 7
    db.session.rollback()
