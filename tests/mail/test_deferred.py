"""A registration's e-mails are rendered by the worker, from what was true when it was placed."""

from __future__ import annotations

from sqlalchemy import select

from conference.core.db import db
from conference.mail.models import OutboxMessage, OutboxStatus
from conference.mail.services import send_due_messages
from conference.registration.services import place_order
from tests.conftest import booking_details


def _rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_the_registration_queues_its_mails_unrendered_and_the_worker_keeps_what_it_sent(
    edition, inbox
):
    placed = place_order(edition, booking_details(edition, 2))
    db.session.commit()

    queued = _rows()
    assert [m.kind for m in queued] == ["order_confirmation", "ticket", "ticket"]
    for message in queued:
        assert message.template == message.kind
        assert message.subject is None and message.body_text is None
        assert message.context["order"]["reference"] == placed.order.reference

    assert send_due_messages().sent == 3

    for message in _rows():
        assert message.status == OutboxStatus.SENT
        # The record says what went out.
        sent = inbox.to(message.to_address)[0]
        assert message.subject == sent["Subject"]
        sent_text = sent.get_body(("plain",)).get_content()
        assert message.body_text.split() == sent_text.split()
        assert placed.order.reference in message.body_text


def test_a_mail_sent_late_still_says_who_was_registered_but_shows_the_edition_as_it_is(
    edition, inbox
):
    placed = place_order(edition, booking_details(edition, 1))
    db.session.commit()
    # Before the worker's turn: the place's holder is renamed, the venue text corrected.
    attendee = placed.order.attendees[0]
    attendee.name = "Someone Else"
    edition.venue_address = "Falkoner Allé 9, 2000 Frederiksberg (indgang fra Godthåbsvej)"
    db.session.commit()

    assert send_due_messages().sent == 2

    (ticket,) = inbox.to(attendee.email)
    text = ticket.get_body(("plain",)).get_content()
    assert "Kollega 1" in text and "Someone Else" not in text
    assert "indgang fra Godthåbsvej" in text


def test_the_mail_viewer_shows_a_message_the_worker_has_not_rendered_yet(app, client, edition):
    app.config["MAIL_VIEWER"] = True
    placed = place_order(edition, booking_details(edition, 1))
    db.session.commit()
    confirmation = _rows()[0]
    assert confirmation.body_text is None

    page = client.get(f"/_outbox/{confirmation.id}").get_data(as_text=True)

    assert placed.order.reference in page
    assert "Tilmeldingen er bindende" in page
