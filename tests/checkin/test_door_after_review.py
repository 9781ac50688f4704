"""The door answers once (post/redirect/get), an organiser undoes a mistaken check-in,
and an invalid badge filter is an error, not every badge."""

from __future__ import annotations

import re

from sqlalchemy import select

from conference.checkin.services import ticket_payload
from conference.core.db import db
from conference.core.models import AuditEvent
from conference.registration.models import Attendee
from tests.auth.helpers import log_in, make_staff


def _login(client, role):
    user = make_staff(f"{role}@example.dk", role)
    log_in(client, f"{role}@example.dk")
    return user


def _result(html: str) -> str | None:
    match = re.search(r'id="door-result"[^>]*data-result="([a-z_]+)"', html)
    return match.group(1) if match else None


def test_a_scan_redirects_and_a_reload_does_not_scan_again(client, placed, edition):
    _login(client, "checkin")
    attendee = placed.order.attendees[0]
    url = f"/staff/e/{edition.slug}/checkin"
    response = client.post(f"{url}?lang=en", data={"code": ticket_payload(attendee)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(url)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _result(page) == "admitted" and "Kollega 1" in page
    # The phone reloads the page: a GET, no second scan, no red "already checked in".
    again = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _result(again) is None
    assert "Kollega 1" not in again
    checked_in = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "attendee.checked_in")
    ).all()
    assert len(checked_in) == 1


def test_checking_in_from_the_search_keeps_the_search(client, placed, edition):
    _login(client, "checkin")
    url = f"/staff/e/{edition.slug}/checkin"
    html = client.get(f"{url}?lang=en&q=kollega2").get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+q=kollega2[^"]*)"', html)
    assert action, "the search result's form does not carry the search"
    payload = re.search(r'name="code" value="([^"]+)"', html).group(1)
    response = client.post(action.group(1).replace("&amp;", "&"), data={"code": payload})
    assert response.status_code == 303 and "q=kollega2" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _result(page) == "admitted"
    assert 'value="kollega2"' in page and "Checked in at" in page


def test_the_answer_of_one_edition_is_not_shown_at_another(client, placed, edition):
    from conference.events.commands import create_demo_edition

    other = create_demo_edition(2031, slug="other")
    db.session.commit()
    _login(client, "checkin")
    client.post(
        f"/staff/e/{edition.slug}/checkin",
        data={"code": ticket_payload(placed.order.attendees[0])},
    )
    assert _result(client.get(f"/staff/e/{other.slug}/checkin").get_data(as_text=True)) is None


# --- undoing a check-in ----------------------------------------------------------------


def _undo(client, edition, attendee, **data):
    return client.post(
        f"/staff/e/{edition.slug}/places/{attendee.id}/undo-check-in?lang=en",
        data=data,
        follow_redirects=True,
    )


def test_an_organiser_undoes_a_mistaken_check_in(client, placed, edition):
    organiser = _login(client, "organiser")
    attendee = placed.order.attendees[0]
    client.post(f"/staff/e/{edition.slug}/checkin", data={"code": ticket_payload(attendee)})
    page = client.get(f"/staff/e/{edition.slug}/places/{attendee.id}?lang=en")
    assert 'id="undo-check-in"' in page.get_data(as_text=True)

    refused = _undo(client, edition, attendee)  # without the tick
    assert "Tick the box" in refused.get_data(as_text=True)
    assert db.session.get(Attendee, attendee.id).checked_in_at is not None

    page = _undo(client, edition, attendee, confirm="y").get_data(as_text=True)
    assert "The check-in is undone" in page
    db.session.expire_all()
    attendee = db.session.get(Attendee, attendee.id)
    assert attendee.checked_in_at is None and attendee.checked_in_by is None
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "attendee.check_in_undone")
    )
    assert event.actor == f"staff:{organiser.id}" and event.data["checked_in_at"]
    assert 'data-action="attendee.check_in_undone"' in page
    assert 'id="undo-check-in"' not in page
    # A second undo finds nothing to undo; the place can be checked in again.
    assert "not checked in" in _undo(client, edition, attendee, confirm="y").get_data(as_text=True)
    client.post(f"/staff/e/{edition.slug}/checkin", data={"code": ticket_payload(attendee)})
    db.session.expire_all()
    assert db.session.get(Attendee, attendee.id).checked_in_at is not None


def test_door_staff_cannot_undo_a_check_in(app, client, placed, edition):
    assert app.view_functions["checkin.undo_check_in"].allowed_roles == {"organiser"}
    _login(client, "checkin")
    attendee = placed.order.attendees[0]
    client.post(f"/staff/e/{edition.slug}/checkin", data={"code": ticket_payload(attendee)})
    response = client.post(
        f"/staff/e/{edition.slug}/places/{attendee.id}/undo-check-in", data={"confirm": "y"}
    )
    assert response.status_code == 403
    assert db.session.get(Attendee, attendee.id).checked_in_at is not None


# --- badges ----------------------------------------------------------------------------


def test_an_invalid_badge_filter_shows_the_error_instead_of_every_badge(client, placed, edition):
    _login(client, "organiser")
    for query in ("ticket_type=abc", "ticket_type=99999", "arrival=sometimes"):
        page = client.get(f"/staff/e/{edition.slug}/badges?lang=en&{query}")
        assert page.status_code == 422, query
        html = page.get_data(as_text=True)
        assert 'id="badge-filter-error"' in html and 'class="field-error"' in html
        assert 'id="badge-count"' not in html
        assert "Choose" in html and "coerce" not in html and "Not a valid" not in html
        pdf = client.get(f"/staff/e/{edition.slug}/badges.pdf?{query}")
        assert pdf.status_code == 422 and pdf.mimetype == "text/html"
    assert client.get(f"/staff/e/{edition.slug}/badges?ticket_type=0").status_code == 200
