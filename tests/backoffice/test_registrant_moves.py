"""Moving a place to another ticket type, and sending an order's e-mails again."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from conference.core.db import db
from conference.core.models import AuditEvent
from conference.core.security import hash_token
from conference.events.models import Quota, TicketType
from conference.invoicing.models import Invoice
from conference.invoicing.services import amount_due, invoice_for_order
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order
from conference.registration.services import cancel_attendee, cancel_order, place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details
from tests.mail.helpers import MANAGE_LINK, outbox


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


@pytest.fixture
def partner(edition) -> TicketType:
    """A partner place at 1.500,00 kr. + moms with its own quota of one place."""
    quota = Quota(name="Partnere", capacity=1, taken=0)
    edition.quotas.append(quota)
    ticket_type = TicketType(
        name="Partner",
        name_en="Partner",
        price_net_ore=150_000,
        quota=quota,
        is_public=False,
        sort_order=4,
    )
    edition.ticket_types.append(ticket_type)
    db.session.commit()
    return ticket_type


def _order(edition, count=2, **overrides) -> Order:
    placed = place_order(edition, booking_details(edition, count, **overrides))
    db.session.commit()
    return placed.order


def _order_url(order) -> str:
    return f"/staff/e/{order.edition.slug}/orders/{order.reference}"


def _move(client, attendee, ticket_type, **fields):
    data = {
        "version": str(attendee.ticket_version),
        "ticket_type_id": str(ticket_type.id),
        "confirm": "y",
        **fields,
    }
    prefixed = {f"m{attendee.id}-{key}": value for key, value in data.items()}
    return client.post(f"{_order_url(attendee.order)}/places/{attendee.id}/move", data=prefixed)


def _taken(quota_id: int) -> int:
    return db.session.scalar(select(Quota.taken).where(Quota.id == quota_id))


def _documents(order) -> list[Invoice]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.id))
    )


def _audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_moving_to_another_price_credits_the_old_place_and_invoices_the_new(
    organiser, edition, partner
):
    order = _order(edition, 2)
    attendee = order.attendees[0]
    main_quota, code = edition.quotas[0].id, attendee.ticket_code
    invoice = invoice_for_order(order)
    response = _move(organiser, attendee, partner, reason="Aftale med partner")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    page = html.unescape(organiser.get(response.headers["Location"]).get_data(as_text=True))
    assert "Kollega 1 now has the ticket type Partner; the ticket stays valid." in page

    first, credit_note, own = _documents(order)
    assert first.id == invoice.id and first.total_ore == 2 * 321_875  # never changed
    assert credit_note.is_credit_note and credit_note.credited_invoice_id == invoice.id
    assert credit_note.total_ore == 321_875 and "Aftale med partner" in credit_note.note
    assert not own.is_credit_note and own.total_ore == 187_500
    assert own.lines[0]["unit_net_ore"] == 150_000 and "Kollega 1" in own.note
    assert f"Credit note {credit_note.number} was issued." in page
    assert f"Invoice {own.number} was issued." in page

    attendee = db.session.get(Attendee, attendee.id)
    assert attendee.ticket_type_id == partner.id and attendee.unit_price_net_ore == 150_000
    assert attendee.invoice_id == own.id and attendee.ticket_code == code
    assert _taken(partner.quota_id) == 1 and _taken(main_quota) == 1
    (audit,) = _audits("attendee.moved")
    assert audit.data["before"]["ticket_type"] == "Deltager"
    assert audit.data["after"] == {
        "ticket_type": "Partner",
        "unit_price_net_ore": 150_000,
        "vat_percent": 25,
    }
    assert audit.data["credit_note"] == credit_note.number and audit.actor.startswith("staff:")
    (mail,) = outbox("place_moved")
    assert mail.to_address == "hanne@aarhus.dk" and "fra Deltager til Partner" in mail.body_text
    assert [a["invoice_id"] for a in mail.attachments] == [credit_note.id, own.id]
    # What is owed adds up: one place at the old price, one at the new.
    assert amount_due(first) + amount_due(own) == 321_875 + 187_500


def test_a_moved_place_is_credited_on_its_own_invoice_when_cancelled(organiser, edition, partner):
    from conference.backoffice.services import move_attendee

    order = _order(edition, 2)
    moved, stays = order.attendees
    move_attendee(moved, partner, expected_version=moved.ticket_version, actor="test")
    db.session.commit()
    result = cancel_attendee(moved, actor="test", reason="Syg")
    db.session.commit()
    assert result.credit_note.credited_invoice_id == moved.invoice_id
    assert result.credit_note.total_ore == 187_500
    assert _taken(partner.quota_id) == 0
    # Cancelling the rest credits what is left on the order's own invoice.
    result = cancel_order(db.session.get(Order, order.id), actor="test", reason="Aflyst")
    db.session.commit()
    first = invoice_for_order(order)
    assert result.credit_note.credited_invoice_id == first.id
    assert amount_due(first) == 0
    assert {a.id for a in result.attendees} == {stays.id}


def test_a_full_ticket_type_refuses_the_move_with_a_clear_message(organiser, edition, partner):
    order = _order(edition, 2)
    first, second = order.attendees
    assert _move(organiser, first, partner).status_code == 303
    before = len(_documents(order))
    second = db.session.get(Attendee, second.id)
    response = _move(organiser, second, partner)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Partner is full: there is no free place to move to." in page
    assert f'id="move-{second.id}" open' in page
    assert len(_documents(order)) == before
    assert db.session.get(Attendee, second.id).ticket_type_id == edition.ticket_types[0].id
    assert _taken(partner.quota_id) == 1 and _taken(edition.quotas[0].id) == 1


def test_moving_within_the_shared_quota_to_a_free_type_only_credits(organiser, edition):
    speaker = edition.ticket_types[1]  # Oplægsholder, 0 kr., the same quota
    order = _order(edition, 2)
    attendee = order.attendees[1]
    assert _move(organiser, attendee, speaker).status_code == 303
    first, credit_note = _documents(order)
    assert credit_note.total_ore == 321_875
    assert _taken(edition.quotas[0].id) == 2  # the place is kept, not claimed again
    attendee = db.session.get(Attendee, attendee.id)
    assert attendee.unit_price_net_ore == 0 and attendee.invoice_id is None
    # A free place is not credited again when the order is cancelled.
    result = cancel_order(db.session.get(Order, order.id), actor="test")
    db.session.commit()
    assert result.credit_note.total_ore == 321_875
    assert amount_due(invoice_for_order(order)) == 0


def test_a_move_without_the_box_ticked_or_from_an_old_page_changes_nothing(
    organiser, edition, partner
):
    order = _order(edition, 2)
    attendee = order.attendees[0]
    response = _move(organiser, attendee, partner, confirm="")
    assert response.status_code == 422
    assert "Tick the box to confirm the move." in response.get_data(as_text=True)
    response = _move(organiser, attendee, partner, version="99")
    assert response.status_code == 409
    assert "changed hands" in response.get_data(as_text=True)
    response = _move(organiser, attendee, partner, ticket_type_id="99999")
    assert response.status_code == 422
    assert len(_documents(order)) == 1 and _taken(partner.quota_id) == 0
    assert _audits("attendee.moved") == []


def test_a_card_order_cannot_move_to_another_price(organiser, edition, partner):
    order = _order(edition, 1)
    db.session.execute(
        Order.__table__.update().where(Order.id == order.id).values(payment_method="card")
    )
    db.session.commit()
    response = _move(organiser, order.attendees[0], partner)
    assert response.status_code == 409
    assert "paid by card" in response.get_data(as_text=True)
    assert _taken(partner.quota_id) == 0


# --- the order's e-mails ---------------------------------------------------------------


def test_the_order_page_lists_the_orders_e_mails_with_their_status(organiser, edition):
    order = _order(edition, 2)
    db.session.execute(
        OutboxMessage.__table__.update()
        .where(OutboxMessage.kind == "ticket")
        .values(status="sent", sent_at=OutboxMessage.created_at)
    )
    db.session.commit()
    page = organiser.get(_order_url(order)).get_data(as_text=True)
    assert page.count("Waiting to be sent") == 1 and page.count(">Sent<") == 2
    assert "Confirmation" in page and "kollega2@aarhus.dk" in page


def test_resending_the_confirmation_builds_it_from_the_order_now(client, organiser, edition):
    order = _order(edition, 2)
    cancel_attendee(order.attendees[1], actor="test")
    db.session.commit()
    old_hash = db.session.get(Order, order.id).manage_token_hash
    response = organiser.post(f"{_order_url(order)}/resend")
    assert response.status_code == 303
    page = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "The confirmation is on its way to hanne@aarhus.dk" in page
    confirmation = outbox("order_confirmation")[-1]
    assert "Kollega 1" in confirmation.body_text and "Kollega 2" not in confirmation.body_text
    assert confirmation.attachments[0]["invoice_id"] == invoice_for_order(order).id
    path = MANAGE_LINK.search(confirmation.body_text).group(1)
    db.session.expire_all()
    assert db.session.get(Order, order.id).manage_token_hash == hash_token(path.split("/")[-1])
    assert db.session.get(Order, order.id).manage_token_hash != old_hash
    assert client.get(path).status_code == 200
    (audit,) = _audits("mail.resent")
    assert audit.data["kind"] == "order_confirmation" and audit.actor.startswith("staff:")


def test_a_ticket_resent_after_a_transfer_goes_to_the_new_holder(organiser, edition):
    from conference.transfers.services import Colleague, organiser_transfer

    order = _order(edition, 2)
    attendee = order.attendees[0]
    organiser_transfer(
        attendee,
        Colleague("Ny Holder", "ny.holder@aarhus.dk"),
        expected_version=attendee.ticket_version,
        actor="test",
    )
    db.session.commit()
    response = organiser.post(f"{_order_url(order)}/places/{attendee.id}/resend")
    assert response.status_code == 303
    ticket = outbox("ticket")[-1]
    assert ticket.to_address == "ny.holder@aarhus.dk" and "Ny Holder" in ticket.body_text
    assert any("ticket" in item for item in ticket.attachments)
    (audit,) = _audits("mail.resent")
    assert audit.data == {
        "reference": order.reference,
        "kind": "ticket",
        "to": "ny.holder@aarhus.dk",
    }


def test_a_cancelled_place_gets_no_ticket_again(organiser, edition):
    order = _order(edition, 2)
    attendee = order.attendees[1]
    cancel_attendee(attendee, actor="test")
    db.session.commit()
    before = len(outbox())
    response = organiser.post(f"{_order_url(order)}/places/{attendee.id}/resend")
    assert response.status_code == 409
    assert "no ticket to send" in response.get_data(as_text=True)
    assert len(outbox()) == before and _audits("mail.resent") == []


def test_cancelling_an_order_with_a_moved_place_credits_both_invoices(organiser, edition, partner):
    from conference.backoffice.services import move_attendee

    order = _order(edition, 2)
    moved = order.attendees[0]
    move_attendee(moved, partner, expected_version=moved.ticket_version, actor="test")
    db.session.commit()
    response = organiser.post(
        f"{_order_url(order)}/cancel", data={"confirm": "y", "reason": "Aflyst"}
    )
    assert response.status_code == 302
    page = organiser.get(response.headers["Location"]).get_data(as_text=True)
    first, _move_note, own, *notes = _documents(order)
    assert sorted(note.credited_invoice_id for note in notes) == [first.id, own.id]
    assert amount_due(first) == 0 and amount_due(own) == 0
    for note in notes:
        assert f"Credit note {note.number} was issued" in page
    (mail,) = outbox("order_cancelled")
    assert [a["invoice_id"] for a in mail.attachments] == [note.id for note in notes]
    assert all(note.number in mail.body_text for note in notes)
    assert _taken(partner.quota_id) == 0 and _taken(edition.quotas[0].id) == 0
