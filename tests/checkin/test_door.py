"""The door: one unmistakable answer per scan, refusals with their reason, live counts."""

from __future__ import annotations

import re
from datetime import datetime

from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from conference.checkin.services import (
    ScanResult,
    check_in_payload,
    describe,
    door_counts,
    ticket_payload,
)
from conference.core.db import db
from conference.core.i18n import force_locale
from conference.core.models import AuditEvent
from conference.events.commands import create_demo_edition
from conference.registration.models import Attendee
from conference.registration.services import cancel_attendee, place_order
from conference.transfers.services import Colleague, organiser_transfer
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details, csrf_token_from


def _door(client, role="checkin"):
    user = make_staff(f"{role}@example.dk", role)
    log_in(client, f"{role}@example.dk")
    return user


def _scan(client, edition, payload):
    return client.post(
        f"/staff/e/{edition.slug}/checkin?lang=en", data={"code": payload}, follow_redirects=True
    )


def _result(html: str) -> str:
    match = re.search(r'id="door-result"[^>]*data-result="([a-z_]+)"', html)
    assert match, "no answer on the page"
    return match.group(1)


def test_a_valid_ticket_is_green_with_name_and_organisation(client, placed, edition):
    staff = _door(client)
    attendee = placed.order.attendees[0]
    response = _scan(client, edition, ticket_payload(attendee))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _result(html) == "admitted"
    assert 'class="door-result door-ok"' in html
    assert "Welcome in" in html  # words, not only a colour
    assert "Kollega 1" in html and "Aarhus Kommune" in html
    db.session.expire_all()
    attendee = db.session.get(Attendee, attendee.id)
    assert attendee.checked_in_at is not None
    assert attendee.checked_in_by == f"staff:{staff.id}"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "attendee.checked_in"))


def test_a_second_scan_is_refused_with_the_time_of_the_first(client, placed, edition):
    attendee = placed.order.attendees[0]
    # 08:12 UTC on 4 January is 09:12 in Copenhagen: the door shows local time.
    first = check_in_payload(
        edition, ticket_payload(attendee), actor="staff:1", now=datetime(2027, 1, 4, 8, 12)
    )
    db.session.commit()
    assert first.admitted
    again = check_in_payload(edition, ticket_payload(attendee), actor="staff:1")
    assert again.result is ScanResult.ALREADY_CHECKED_IN
    assert again.checked_in_at == datetime(2027, 1, 4, 8, 12)
    with force_locale("en_GB"):
        assert describe(again) == "Already checked in at 09:12."
    db.session.commit()

    _door(client)
    html = _scan(client, edition, ticket_payload(attendee)).get_data(as_text=True)
    assert _result(html) == "already_checked_in"
    assert 'class="door-result door-refused"' in html
    assert "Not admitted" in html and "09:12" in html
    assert db.session.get(Attendee, attendee.id).checked_in_at == datetime(2027, 1, 4, 8, 12)


def test_unknown_forged_and_garbled_codes_are_red(client, placed, edition):
    _door(client)
    attendee = placed.order.attendees[0]
    forged = URLSafeSerializer("another key", salt="ticket-qr").dumps(attendee.ticket_code)
    for payload in ("hello", forged, "x" * 600, ticket_payload(attendee)[:-3] + "abc"):
        html = _scan(client, edition, payload).get_data(as_text=True)
        assert _result(html) == "unknown", payload
        assert "Unknown ticket" in html
    assert db.session.get(Attendee, attendee.id).checked_in_at is None


def test_a_transferred_ticket_is_refused_and_the_new_one_admitted(client, placed, edition):
    attendee = placed.order.attendees[0]
    old = ticket_payload(attendee)
    organiser_transfer(
        attendee,
        Colleague("Mads Madsen", "mads@aarhus.dk"),
        expected_version=attendee.ticket_version,
        actor="staff:1",
    )
    db.session.commit()
    _door(client)
    html = _scan(client, edition, old).get_data(as_text=True)
    assert _result(html) == "transferred"
    assert "transferred to another person" in html
    assert "Mads Madsen" not in html  # the old ticket does not reveal the new holder
    html = _scan(client, edition, ticket_payload(db.session.get(Attendee, attendee.id)))
    html = html.get_data(as_text=True)
    assert _result(html) == "admitted" and "Mads Madsen" in html


def test_a_cancelled_place_and_another_editions_ticket_are_refused(client, placed, edition):
    first, second = placed.order.attendees
    cancel_attendee(second, actor="staff:1")
    other = create_demo_edition(2031, slug="other")
    other.registration_opens_at = edition.registration_opens_at
    other.registration_closes_at = edition.registration_closes_at
    db.session.flush()
    elsewhere = place_order(other, booking_details(other, 1)).order.attendees[0]
    db.session.commit()
    _door(client)
    html = _scan(client, edition, ticket_payload(second)).get_data(as_text=True)
    assert _result(html) == "cancelled" and "cancelled" in html
    html = _scan(client, edition, ticket_payload(elsewhere)).get_data(as_text=True)
    assert _result(html) == "other_edition"
    assert db.session.get(Attendee, elsewhere.id).checked_in_at is None


def test_live_counts_of_arrived_and_expected(client, placed, edition):
    _door(client)
    assert door_counts(edition).expected == 2
    counts = client.get(f"/staff/e/{edition.slug}/checkin/counts.json").get_json()
    # Exhibitors are counted apart (tests/checkin/test_exhibitor_passes.py).
    no_exhibitors = {"exhibitors_arrived": 0, "exhibitors_expected": 0}
    assert counts == {"arrived": 0, "expected": 2, **no_exhibitors}
    _scan(client, edition, ticket_payload(placed.order.attendees[0]))
    counts = client.get(f"/staff/e/{edition.slug}/checkin/counts.json").get_json()
    assert counts == {"arrived": 1, "expected": 2, **no_exhibitors}
    page = client.get(f"/staff/e/{edition.slug}/checkin").get_data(as_text=True)
    assert re.search(r"data-arrived>1<", page) and re.search(r"data-expected>2<", page)


def test_search_by_name_or_organisation_and_check_in_from_the_result(client, placed, edition):
    _door(client)
    url = f"/staff/e/{edition.slug}/checkin?lang=en"
    html = client.get(f"{url}&q=aarhus").get_data(as_text=True)
    assert "Kollega 1" in html and "Kollega 2" in html
    html = client.get(f"{url}&q=kollega2").get_data(as_text=True)
    assert "Kollega 2" in html and "Kollega 1" not in html
    assert client.get(f"{url}&q=%25").status_code == 200  # a wildcard is taken literally
    assert "No one matches" in client.get(f"{url}&q=nobody").get_data(as_text=True)
    payload = re.search(r'name="code" value="([^"]+)"', html).group(1)
    html = _scan(client, edition, payload).get_data(as_text=True)
    assert _result(html) == "admitted" and "Kollega 2" in html
    html = client.get(f"{url}&q=kollega2").get_data(as_text=True)
    assert "Checked in at" in html and 'type="hidden" name="code"' not in html


def test_an_empty_scan_is_a_form_error_not_a_500(client, placed, edition):
    _door(client)
    response = _scan(client, edition, "")
    assert response.status_code == 422
    assert 'id="code-error"' in response.get_data(as_text=True)


def test_the_door_is_for_check_in_staff_and_organisers(app, client, placed, edition):
    assert app.view_functions["checkin.door"].allowed_roles == {"checkin", "organiser"}
    assert app.view_functions["checkin.scan"].allowed_roles == {"checkin", "organiser"}
    make_staff("accounting@example.dk", "accounting")
    log_in(client, "accounting@example.dk")
    assert client.get(f"/staff/e/{edition.slug}/checkin").status_code == 403
    assert _scan(client, edition, ticket_payload(placed.order.attendees[0])).status_code == 403
    assert db.session.get(Attendee, placed.order.attendees[0].id).checked_in_at is None


def test_the_door_page_works_without_javascript_and_obeys_the_csp(app, client, placed, edition):
    _door(client, "organiser")
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(f"/staff/e/{edition.slug}/checkin")
    html = page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/checkin.js" defer>']
    assert 'id="camera" hidden' in html  # shown by the script only where it can scan
    token = csrf_token_from(html)
    payload = ticket_payload(placed.order.attendees[0])
    refused = client.post(f"/staff/e/{edition.slug}/checkin", data={"code": payload})
    assert refused.status_code == 400
    admitted = client.post(
        f"/staff/e/{edition.slug}/checkin",
        data={"code": payload, "csrf_token": token},
        follow_redirects=True,
    )
    assert _result(admitted.get_data(as_text=True)) == "admitted"
