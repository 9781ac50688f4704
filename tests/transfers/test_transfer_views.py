"""The transfer form behind a manage link, and the organiser's transfer screens."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from conference.core.db import db, utcnow
from conference.core.models import AuditEvent
from conference.registration.models import Attendee
from conference.transfers.models import PlaceTransfer, TransferStatus
from tests.auth.helpers import log_in, make_staff
from tests.conftest import csrf_token_from
from tests.mail.helpers import manage_path, outbox


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _form(attendee, **overrides) -> dict:
    data = {
        "name": "Mads Madsen",
        "email": "mads@aarhus.dk",
        "job_title": "Projektleder",
        "dietary": "",
        "version": str(attendee.ticket_version),
    }
    data.update(overrides)
    return data


def _attendee_link(placed, index=0) -> tuple[Attendee, str]:
    attendee = placed.order.attendees[index]
    return attendee, f"/m/{placed.attendee_tokens[attendee.id]}"


def test_the_manage_page_offers_the_transfer_until_the_deadline(client, placed, edition):
    attendee, link = _attendee_link(placed)
    page = client.get(f"{link}?lang=en").get_data(as_text=True)
    assert f"{link}/transfer/{attendee.id}" in page
    assert f"{link}/ticket/{attendee.id}.pdf" in page
    booker = client.get(f"/m/{placed.booker_token}?lang=en").get_data(as_text=True)
    for place in placed.order.attendees:
        assert f"/transfer/{place.id}" in booker

    edition.transfer_deadline = utcnow() - timedelta(minutes=1)
    db.session.commit()
    page = client.get(f"{link}?lang=en").get_data(as_text=True)
    assert "/transfer/" not in page
    assert "digitaliseringstraef@example.dk" in page  # whom to contact instead
    form = client.get(f"{link}/transfer/{attendee.id}?lang=en").get_data(as_text=True)
    assert 'id="transfer-closed"' in form and 'id="transfer-form"' not in form
    assert "digitaliseringstraef@example.dk" in form
    refused = client.post(f"{link}/transfer/{attendee.id}", data=_form(attendee))
    assert refused.status_code == 409
    assert _count(PlaceTransfer) == 0


def test_the_whole_transfer_through_the_pages(client, placed):
    attendee, link = _attendee_link(placed)
    old_qr = client.get(f"{link}/qr/{attendee.id}.svg")
    assert old_qr.status_code == 200
    form = client.get(f"{link}/transfer/{attendee.id}?lang=en")
    assert form.status_code == 200
    assert form.headers["Cache-Control"] == "no-store"
    assert "Kollega 1" in form.get_data(as_text=True)

    done = client.post(f"{link}/transfer/{attendee.id}", data=_form(attendee))
    assert done.status_code == 303
    assert done.headers["Location"] == link
    # The old holder's link now says the place was handed on, and shows no ticket.
    old_page = client.get(f"{link}?lang=en").get_data(as_text=True)
    assert 'id="handed-on"' in old_page and "Mads Madsen" in old_page
    assert "/qr/" not in old_page
    assert client.get(f"{link}/qr/{attendee.id}.svg").status_code == 404
    assert client.get(f"{link}/transfer/{attendee.id}").status_code == 404

    (ticket,) = outbox("transfer_ticket")
    new_link = manage_path(ticket.body_text)
    page = client.get(new_link).get_data(as_text=True)
    assert "Mads Madsen" in page and "Projektleder" in page
    new_qr = client.get(f"{new_link}/qr/{attendee.id}.svg")
    assert new_qr.status_code == 200 and new_qr.data != old_qr.data
    pdf = client.get(f"{new_link}/ticket/{attendee.id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_errors_are_shown_next_to_the_fields_and_nothing_is_written(client, placed):
    attendee, link = _attendee_link(placed)
    response = client.post(
        f"{link}/transfer/{attendee.id}?lang=en",
        data=_form(attendee, name="", email="not an address"),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="name"[^>]*aria-invalid="true"', html)
    assert re.search(r'id="email"[^>]*aria-invalid="true"', html)
    assert 'id="name-error"' in html and 'id="email-error"' in html
    # A person who already has a place: the service's error lands on the e-mail field.
    response = client.post(
        f"{link}/transfer/{attendee.id}?lang=en",
        data=_form(attendee, email="kollega2@aarhus.dk"),
    )
    assert response.status_code == 422
    assert "already has a place" in response.get_data(as_text=True)
    # A version that is not a number, or is missing, is a form error, not a 500.
    response = client.post(f"{link}/transfer/{attendee.id}", data=_form(attendee, version="x"))
    assert response.status_code == 422
    assert _count(PlaceTransfer) == 0
    assert db.session.get(Attendee, attendee.id).ticket_version == 1


def test_a_stale_form_is_told_someone_else_was_first(client, placed):
    attendee = placed.order.attendees[0]
    booker = f"/m/{placed.booker_token}"
    first = client.post(f"{booker}/transfer/{attendee.id}", data=_form(attendee))
    assert first.status_code == 303
    second = client.post(
        f"{booker}/transfer/{attendee.id}?lang=en",
        data=_form(attendee, name="Sofie", email="sofie@aarhus.dk", version="1"),
    )
    assert second.status_code == 409
    assert "Someone else has just transferred this place" in second.get_data(as_text=True)
    assert db.session.get(Attendee, attendee.id).name == "Mads Madsen"
    assert _count(PlaceTransfer) == 1


def test_an_attendee_cannot_transfer_a_colleagues_place(client, placed):
    _attendee, link = _attendee_link(placed, 0)
    other = placed.order.attendees[1]
    assert client.get(f"{link}/transfer/{other.id}").status_code == 404
    assert client.post(f"{link}/transfer/{other.id}", data=_form(other)).status_code == 404
    assert client.get(f"/m/nonsense/transfer/{other.id}").status_code == 404
    assert _count(PlaceTransfer) == 0


def test_outside_the_domain_warns_and_then_asks_the_organiser(client, placed):
    attendee, link = _attendee_link(placed)
    url = f"{link}/transfer/{attendee.id}?lang=en"
    warned = client.post(url, data=_form(attendee, email="ole@gmail.com"))
    assert warned.status_code == 422
    html = warned.get_data(as_text=True)
    assert 'id="outside-warning"' in html and "aarhus.dk" in html
    assert 'name="confirm_outside"' in html
    assert 'value="ole@gmail.com"' in html  # what was typed survives
    assert _count(PlaceTransfer) == 0

    asked = client.post(url, data=_form(attendee, email="ole@gmail.com", confirm_outside="y"))
    assert asked.status_code == 303
    request = db.session.scalar(select(PlaceTransfer))
    assert request.status == TransferStatus.PENDING
    page = client.get(f"{link}?lang=en").get_data(as_text=True)
    assert "sent to the organiser" in page  # flashed
    assert db.session.get(Attendee, attendee.id).name == "Kollega 1"
    again = client.get(url).get_data(as_text=True)
    assert 'id="pending-request"' in again and "ole@gmail.com" in again


def test_csrf_is_required_on_the_transfer_form(app, placed):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    attendee = placed.order.attendees[0]
    url = f"/m/{placed.attendee_tokens[attendee.id]}/transfer/{attendee.id}"
    assert client.post(url, data=_form(attendee)).status_code == 400
    assert _count(PlaceTransfer) == 0
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    assert client.post(url, data=_form(attendee, csrf_token=token)).status_code == 303
    assert _count(PlaceTransfer) == 1


# --- the organiser's screens ------------------------------------------------------


def _organiser(client):
    user = make_staff("organiser@example.dk", "organiser")
    log_in(client, "organiser@example.dk")
    return user


def test_organiser_approves_a_pending_request(client, placed, edition):
    attendee, link = _attendee_link(placed)
    client.post(
        f"{link}/transfer/{attendee.id}",
        data=_form(attendee, email="ole@gmail.com", confirm_outside="y"),
    )
    request = db.session.scalar(select(PlaceTransfer))
    staff = _organiser(client)
    overview = client.get(f"/staff/e/{edition.slug}/transfers").get_data(as_text=True)
    assert f'id="request-{request.id}"' in overview and "ole@gmail.com" in overview
    response = client.post(f"/staff/e/{edition.slug}/transfers/{request.id}/approve")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Attendee, attendee.id).email == "ole@gmail.com"
    assert request.status == TransferStatus.COMPLETED
    assert request.decided_by == f"staff:{staff.id}"
    assert [m.to_address for m in outbox("transfer_ticket")] == ["ole@gmail.com"]
    # Twice is refused without a 500.
    again = client.post(f"/staff/e/{edition.slug}/transfers/{request.id}/approve")
    assert again.status_code == 409


def test_organiser_declines_a_pending_request(client, placed, edition):
    attendee, link = _attendee_link(placed)
    client.post(
        f"{link}/transfer/{attendee.id}",
        data=_form(attendee, email="ole@gmail.com", confirm_outside="y"),
    )
    request = db.session.scalar(select(PlaceTransfer))
    _organiser(client)
    response = client.post(
        f"/staff/e/{edition.slug}/transfers/{request.id}/decline", data={"reason": "Nej"}
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert request.status == TransferStatus.DECLINED
    (mail,) = outbox("transfer_declined")
    assert mail.to_address == "kollega1@aarhus.dk" and "Nej" in mail.body_text
    assert db.session.get(Attendee, attendee.id).name == "Kollega 1"
    unknown = client.post(f"/staff/e/{edition.slug}/transfers/9999/decline", data={})
    assert unknown.status_code == 404


def test_organiser_changes_the_outside_domain_rule(client, edition):
    _organiser(client)
    url = f"/staff/e/{edition.slug}/transfers/rule"
    assert client.post(url, data={"rule": "nonsense"}).status_code == 422
    assert client.post(url, data={"rule": "allow"}).status_code == 303
    db.session.expire_all()
    assert edition.transfer_outside_domain == "allow"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "edition.transfer_rule"))


def test_organiser_transfers_any_place_after_the_deadline_and_sees_its_history(
    client, placed, edition
):
    edition.transfer_deadline = utcnow() - timedelta(days=1)
    db.session.commit()
    attendee, link = _attendee_link(placed)
    client.post(f"{link}/transfer/{attendee.id}", data=_form(attendee))  # refused: too late
    staff = _organiser(client)
    place_url = f"/staff/e/{edition.slug}/places/{attendee.id}"
    order_page = client.get(f"/staff/e/{edition.slug}/orders/{placed.order.reference}")
    assert place_url in order_page.get_data(as_text=True)
    bad = client.post(place_url, data=_form(attendee, email="nope"))
    assert bad.status_code == 422
    response = client.post(place_url, data=_form(attendee, email="ole@gmail.com", name="Ole"))
    assert response.status_code == 303
    response = client.post(
        place_url, data=_form(attendee, email="per@aarhus.dk", name="Per", version="2")
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Attendee, attendee.id).name == "Per"
    history = client.get(f"{place_url}?lang=en").get_data(as_text=True)
    table = history.split('id="transfer-history"', 1)[1].split("</table>", 1)[0]
    assert table.index("Kollega 1") < table.index("Ole") < table.index("Per")
    assert f"organiser #{staff.id}" in table or "organiser organiser@example.dk" in table
    assert "transfer.completed" in history
    assert client.get(f"/staff/e/{edition.slug}/places/99999").status_code == 404


def test_transfer_screens_are_for_organisers_only(app, client, placed, edition):
    make_staff("door@example.dk", "checkin")
    log_in(client, "door@example.dk")
    assert client.get(f"/staff/e/{edition.slug}/transfers").status_code == 403
    attendee = placed.order.attendees[0]
    place_url = f"/staff/e/{edition.slug}/places/{attendee.id}"
    assert client.post(place_url, data=_form(attendee)).status_code == 403
    for endpoint in ("overview", "change_rule", "approve", "decline", "place"):
        assert app.view_functions[f"transfers.{endpoint}"].allowed_roles == {"organiser"}
    assert db.session.get(Attendee, attendee.id).name == "Kollega 1"
