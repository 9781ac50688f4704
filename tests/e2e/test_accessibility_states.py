"""axe-core on the states of the manage, offer, stand and door pages that the other
accessibility tests do not reach, in Danish and English (one browser per language).

A place waiting for an organiser's approval of its transfer, a cancelled order, an
expired offer, a waiting-list group that left; a stand request waiting for approval,
a declined and a cancelled stand booking, the exhibition closed for bookings; the
door admitting an exhibitor and refusing a handed-on ticket, the badge sheet
screen; and the page for a database that cannot be reached (the real error
handler, answering a driver's "connection lost" from a route only this app has).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import exc as sa_exc

from conference.backoffice.services import set_capacity
from conference.checkin.services import pass_payload, ticket_payload
from conference.core.db import db, utcnow
from conference.registration.services import (
    cancel_order,
    expire_offers,
    join_waiting_list,
    place_order,
)
from conference.stands import services as stands
from conference.stands.models import BookingMode, StandHall
from conference.transfers.services import Colleague, request_transfer, set_outside_domain_rule
from tests.auth.helpers import make_staff, submit_staff_login
from tests.conftest import booking_details
from tests.e2e.test_accessibility import LANGUAGES, Audit, _mail_link, _quiet
from tests.e2e.test_accessibility import axe_page as axe_page  # the fixture
from tests.stands.conftest import company_details, make_hall, stand


class _DriverLostConnection(Exception):
    pass


def _database_gone():
    raise sa_exc.OperationalError(
        "SELECT 1", {}, _DriverLostConnection("server closed the connection unexpectedly")
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_states_other_tests_do_not_reach(app, live_server, axe_page, small_edition, language):
    app.add_url_rule("/_test/database-gone", "test_database_gone", _database_gone)
    edition = small_edition
    slug = edition.slug
    # A transfer outside the organisation waits for an organiser.
    set_outside_domain_rule(edition, "approval", actor="test")
    pending = place_order(edition, booking_details(edition, 1, language=language))
    pending_place = pending.order.attendees[0]
    request_transfer(
        pending_place,
        Colleague("Mads Madsen", "mads@example.com"),
        expected_version=pending_place.ticket_version,
        requested_by="booker",
        requester_email=pending.order.booker_email,
        confirmed_outside=True,
    )
    # A cancelled order, and one place handed on (its old ticket is refused at the door).
    cancelled = place_order(
        edition, booking_details(edition, 1, booker_email="b@odense.dk", language=language)
    )
    cancel_order(cancelled.order, actor="test", reason="Test")
    door = place_order(
        edition, booking_details(edition, 2, booker_email="c@vejle.dk", language=language)
    )
    old_payload = ticket_payload(door.order.attendees[0])
    request_transfer(
        door.order.attendees[0],
        Colleague("Lise Lund", "lise@aarhus.dk"),
        expected_version=door.order.attendees[0].ticket_version,
        requested_by="booker",
        requester_email=door.order.booker_email,
    )
    # Full: two groups wait; the first gets an offer that runs out, the second leaves.
    place_order(edition, booking_details(edition, 2, booker_email="d@kolding.dk"))
    expiring = join_waiting_list(
        edition, booking_details(edition, 1, booker_email="e@kommune.dk", language=language)
    )
    leaving = join_waiting_list(
        edition, booking_details(edition, 2, booker_email="f@kommune.dk", language=language)
    )
    set_capacity(edition, 6, actor="test")
    db.session.commit()
    offer_link = _mail_link("waiting_list_offer", r"http://\S+/w/[A-Za-z0-9_-]+")
    expire_offers(edition, now=utcnow() + timedelta(days=30), offer_next=False)

    # Stands: a request in approval mode, a declined one, a cancelled booking, a pass.
    hall = make_hall(edition, mode=BookingMode.APPROVAL)
    requested = stands.book_stand(edition, stand(edition, "A1"), company_details(1))
    declined = stands.book_stand(edition, stand(edition, "A2"), company_details(2))
    stands.decline_booking(declined.booking, actor="test", reason="Ikke relevant")
    confirmed = stands.approve_booking(
        stands.book_stand(edition, stand(edition, "A3"), company_details(3)).booking, actor="test"
    )
    exhibitor_pass = stands.name_staff(
        confirmed.booking, stands.StaffDetails(name="Jonas Berg", email="jonas@kd.dk")
    )
    cancelled_stand = stands.approve_booking(
        stands.book_stand(edition, stand(edition, "A4"), company_details(4)).booking, actor="test"
    )
    stands.cancel_booking(cancelled_stand.booking, actor="test", reason="Flyttet")
    make_staff("organiser@example.dk")
    db.session.commit()
    pass_code = pass_payload(exhibitor_pass)
    pending_place_id, hall_id = pending_place.id, hall.id
    _quiet()  # from here the test thread reads nothing while the server works (SQLite)

    page = axe_page
    audit = Audit(page, language)
    page.goto(f"{live_server}/m/{pending.booker_token}?lang={language}")
    audit.check("manage page, transfer waiting for approval")
    page.goto(f"{live_server}/m/{pending.booker_token}/transfer/{pending_place_id}")
    page.wait_for_selector("#pending-request")
    audit.check("transfer form, request waiting for approval")
    page.goto(f"{live_server}/m/{cancelled.booker_token}")
    page.wait_for_selector(".badge-bad")
    audit.check("manage page, order cancelled")
    expired_heading = {"da": "Tilbuddet er udløbet", "en": "The offer has run out"}[language]
    page.goto(offer_link)
    assert page.inner_text("h1") == expired_heading
    audit.check("waiting list, offer expired")
    page.goto(f"{live_server}/w/{leaving.token}")
    page.click("form[action$='/leave'] button[type=submit]")
    page.wait_for_url(f"{live_server}/e/{slug}")
    audit.check("event page after leaving the waiting list")
    page.goto(f"{live_server}/w/{expiring.token}")
    assert page.inner_text("h1") == expired_heading
    audit.check("waiting list, booker's link after the offer expired")

    for name, token, marker in (
        ("request just received", f"{requested.token}?new=1", "#request-received"),
        ("request waiting for approval", requested.token, "#booking-status"),
        ("request declined", declined.token, "#booking-declined"),
        ("booking cancelled", cancelled_stand.token, "#booking-cancelled"),
    ):
        page.goto(f"{live_server}/s/{token}")
        page.wait_for_selector(marker)
        audit.check(f"stand manage page, {name}")
    db.session.get(StandHall, hall_id).bookings_open = False
    db.session.commit()
    _quiet()
    page.goto(f"{live_server}/e/{slug}/exhibition/stands/A5")
    page.wait_for_selector("#bookings-closed")
    audit.check("stand booking, bookings closed")

    submit_staff_login(page, live_server, "organiser@example.dk", language)
    page.wait_for_url(f"{live_server}/staff/")
    page.goto(f"{live_server}/staff/e/{slug}/checkin")
    page.fill("#code", pass_code)
    page.click("#scan-form button[type=submit]")
    page.wait_for_selector("#door-result[data-result=admitted]")
    audit.check("door, exhibitor admitted")
    page.fill("#code", old_payload)
    page.click("#scan-form button[type=submit]")
    page.wait_for_selector("#door-result.door-refused")
    audit.check("door, a handed-on ticket refused")
    page.goto(f"{live_server}/staff/e/{slug}/badges")
    audit.check("badge sheets")

    response = page.goto(f"{live_server}/_test/database-gone")
    assert response.status == 503
    audit.check("database unavailable")
    audit.assert_clean()
