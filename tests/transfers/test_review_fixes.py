"""Transfers after the review: free-mail domains, +tags, the retired link after a
chain, requests closed by a cancellation or a check-in, and the place's history."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conference.checkin.services import check_in_payload, ticket_payload
from conference.core.db import db
from conference.registration.models import Attendee
from conference.registration.services import cancel_attendee, place_order
from conference.transfers.models import PlaceTransfer, TransferStatus
from conference.transfers.services import (
    FREE_MAIL_DOMAINS,
    InvalidTransfer,
    OutsideOrganisation,
    is_outside_organisation,
    organisation_domains,
    pending_requests,
    request_transfer,
)
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details
from tests.transfers.conftest import colleague


def _transfer(attendee, who, **kwargs):
    return request_transfer(
        attendee,
        who,
        expected_version=attendee.ticket_version,
        requested_by="booker",
        requester_email=attendee.order.booker_email,
        **kwargs,
    )


# --- free-mail domains -----------------------------------------------------------------


def test_a_free_mail_attendee_does_not_make_free_mail_the_organisations_domain(edition):
    details = booking_details(edition, 2)
    details.attendees[1].email = "privat@gmail.com"
    order = place_order(edition, details).order
    db.session.commit()
    assert organisation_domains(order) == ["aarhus.dk"]
    assert is_outside_organisation(order, "stranger@gmail.com")
    assert not is_outside_organisation(order, "x@aarhus.dk")
    # Any place of the order, to a stranger at the same free service: warned first.
    with pytest.raises(OutsideOrganisation) as raised:
        _transfer(order.attendees[0], colleague("Fremmed", "stranger@gmail.com"))
    assert "free e-mail service" in raised.value.message
    assert raised.value.needs_approval  # the edition's rule: approval
    result = _transfer(
        order.attendees[0], colleague("Fremmed", "stranger@gmail.com"), confirmed_outside=True
    )
    assert result.is_pending


def test_a_booker_and_places_all_at_free_mail_have_no_organisation_domain(edition):
    details = booking_details(edition, 1, booker_email="hanne@hotmail.dk")
    details.attendees[0].email = "kollega@gmail.com"
    order = place_order(edition, details).order
    db.session.commit()
    assert organisation_domains(order) == []
    for address in ("ven@gmail.com", "hanne2@hotmail.dk", "x@aarhus.dk"):
        assert is_outside_organisation(order, address)
    with pytest.raises(OutsideOrganisation) as raised:
        _transfer(order.attendees[0], colleague("Ven", "x@aarhus.dk"))
    assert "()" not in raised.value.message


def test_the_free_mail_list_is_the_agreed_one():
    assert {"gmail.com", "hotmail.dk", "outlook.dk", "post.tele.dk", "proton.me"} <= (
        FREE_MAIL_DOMAINS
    )
    assert "aarhus.dk" not in FREE_MAIL_DOMAINS and len(FREE_MAIL_DOMAINS) == 24


# --- the same mailbox with a +tag ------------------------------------------------------


@pytest.mark.parametrize(
    "address", ["kollega2+konf@aarhus.dk", "Kollega2+x@Aarhus.dk", "KOLLEGA2@aarhus.dk"]
)
def test_a_plus_tag_does_not_hide_that_the_person_already_has_a_place(placed, address):
    first = placed.order.attendees[0]
    with pytest.raises(InvalidTransfer) as raised:
        _transfer(first, colleague("Kollega 2 igen", address))
    assert raised.value.errors == {"email": "This person already has a place at the conference."}


def test_a_plus_tag_on_the_holder_is_found_too(edition):
    details = booking_details(edition, 2)
    details.attendees[1].email = "kollega2+traef@aarhus.dk"
    order = place_order(edition, details).order
    db.session.commit()
    with pytest.raises(InvalidTransfer):
        _transfer(order.attendees[0], colleague("K2", "kollega2@aarhus.dk"))
    # Only the tag is taken off: a similar address is someone else.
    assert not _transfer(order.attendees[0], colleague("K22", "kollega22@aarhus.dk")).is_pending


def test_the_holder_with_a_plus_tag_already_holds_the_place(placed):
    first = placed.order.attendees[0]
    with pytest.raises(InvalidTransfer) as raised:
        _transfer(first, colleague("Kollega 1", "kollega1+ny@aarhus.dk"))
    assert raised.value.errors == {"email": "This person already holds the place."}


# --- the retired link after A -> B -> A ------------------------------------------------


def test_after_a_chain_back_to_the_first_holder_the_old_link_names_no_one(client, placed):
    attendee = placed.order.attendees[0]
    first_link = placed.attendee_tokens[attendee.id]
    to_bo = _transfer(attendee, colleague("Bo Berg", "bo@aarhus.dk"))
    db.session.commit()
    bo_link = to_bo.new_token
    db.session.refresh(attendee)
    back = _transfer(attendee, colleague("Kollega 1", "kollega1@aarhus.dk"))
    db.session.commit()

    page = client.get(f"/m/{first_link}?lang=en").get_data(as_text=True)
    assert "This link is no longer valid for your place" in page
    assert "current holder has received their own link" in page
    assert "Bo Berg" not in page
    # Bo's link was retired by the latest transfer: it still says where the place went.
    page = client.get(f"/m/{bo_link}?lang=en").get_data(as_text=True)
    assert "passed from Bo Berg to Kollega 1" in page
    assert client.get(f"/m/{back.new_token}?lang=en").status_code == 200


def test_registration_views_do_not_reach_into_another_areas_views():
    """DESIGN.md: areas talk through services; a view module imports no other views."""
    root = Path(__file__).resolve().parents[2] / "conference"
    for views in root.glob("*/views.py"):
        area = views.parent.name
        tree = ast.parse(views.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if len(parts) == 3 and parts[0] == "conference" and parts[2] == "views":
                    assert parts[1] == area, f"{views} imports {node.module}"


# --- requests closed by a cancellation or a check-in ------------------------------------


def _pending(placed, index=0) -> PlaceTransfer:
    attendee = placed.order.attendees[index]
    result = _transfer(attendee, colleague("Ekstern", "ekstern@firma.dk"), confirmed_outside=True)
    db.session.commit()
    assert result.is_pending
    return result.transfer


def test_a_cancellation_closes_the_places_waiting_request(placed, edition):
    request = _pending(placed)
    other = _pending(placed, 1)
    cancel_attendee(placed.order.attendees[0], actor="staff:1")
    db.session.commit()
    db.session.refresh(request)
    assert request.status == TransferStatus.SUPERSEDED
    assert request.note == "place_cancelled" and request.decided_by == "system"
    assert [t.id for t in pending_requests(edition)] == [other.id]


def test_a_check_in_closes_the_places_waiting_request(placed, edition):
    request = _pending(placed)
    attendee = placed.order.attendees[0]
    assert check_in_payload(edition, ticket_payload(attendee), actor="staff:1").admitted
    db.session.commit()
    db.session.refresh(request)
    assert request.status == TransferStatus.SUPERSEDED and request.note == "place_checked_in"
    assert pending_requests(edition) == []


def test_the_organiser_sees_why_a_request_was_closed(client, placed, edition):
    request = _pending(placed)
    cancel_attendee(placed.order.attendees[0], actor="staff:1")
    db.session.commit()
    make_staff()
    log_in(client, "organiser@example.dk")
    page = client.get(f"/staff/e/{edition.slug}/transfers?lang=en").get_data(as_text=True)
    assert f'id="request-{request.id}"' not in page  # no longer waiting for a decision
    assert "Closed automatically: the place was cancelled." in page


# --- the place's history ---------------------------------------------------------------


def test_the_places_history_shows_check_in_and_cancellation(client, placed, edition):
    first, second = placed.order.attendees
    check_in_payload(edition, ticket_payload(first), actor="staff:1")
    cancel_attendee(first, actor="staff:1", reason="Dobbeltregistrering")
    db.session.commit()
    make_staff()
    log_in(client, "organiser@example.dk")
    page = client.get(f"/staff/e/{edition.slug}/places/{first.id}?lang=en").get_data(as_text=True)
    assert 'data-action="attendee.checked_in"' in page and "Checked in" in page
    assert 'data-action="attendee.cancelled"' in page and "Dobbeltregistrering" in page
    # The other place of the same order was not cancelled: its history says nothing of it.
    page = client.get(f"/staff/e/{edition.slug}/places/{second.id}?lang=en").get_data(as_text=True)
    assert 'data-action="attendee.cancelled"' not in page
    # A whole-order cancellation shows on every place it cancelled.
    from conference.registration.services import cancel_order

    cancel_order(db.session.get(Attendee, second.id).order, actor="staff:1")
    db.session.commit()
    page = client.get(f"/staff/e/{edition.slug}/places/{second.id}?lang=en").get_data(as_text=True)
    assert 'data-action="attendee.cancelled"' in page


# --- the deadline is a moment ----------------------------------------------------------


def test_the_transfer_deadline_is_shown_with_its_hour(client, edition):
    from datetime import datetime

    from tests.mail.helpers import outbox

    edition.transfer_deadline = datetime(2030, 4, 3, 10, 0)  # 12.00 in Copenhagen (summer)
    db.session.commit()
    placed = place_order(edition, booking_details(edition, 1, language="da"))
    db.session.commit()
    for message in outbox():
        if message.kind in ("ticket", "order_confirmation"):
            assert "3. april 2030 kl. 12.00" in message.body_text, message.kind
            assert "3. april 2030 kl. 12.00" in message.body_html, message.kind
    attendee = placed.order.attendees[0]
    page = client.get(f"/m/{placed.attendee_tokens[attendee.id]}?lang=da").get_data(as_text=True)
    assert "3. april 2030 kl. 12.00" in page
    page = client.get(f"/m/{placed.booker_token}?lang=en").get_data(as_text=True)
    assert "3 April 2030 at 12:00" in page
    result = _transfer(attendee, colleague("Mads Madsen", "mads@aarhus.dk"))
    db.session.commit()
    assert result.new_token
    ticket = outbox("transfer_ticket")[0]
    assert "3. april 2030 kl. 12.00" in ticket.body_text
