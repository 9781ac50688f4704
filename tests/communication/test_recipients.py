"""The filter chooses exactly the right people, once per address, in their language."""

from __future__ import annotations

from sqlalchemy import func, select

from conference.communication.models import CommunicationMessage, CommunicationRecipient
from conference.communication.services import (
    Audience,
    MessageText,
    preview,
    recipients,
    send_message,
)
from conference.core.db import db
from conference.core.errors import DomainError
from conference.mail.models import OutboxMessage
from conference.registration.services import cancel_attendee
from tests.communication.conftest import check_in, place
from tests.mail.helpers import outbox

TEXT = MessageText("Praktisk information", "Husk navneskiltet.", "Practical", "Bring your badge.")


def _emails(edition, **audience):
    return [r.email for r in recipients(edition, Audience(**audience))]


def test_all_confirmed_participants(edition, orders):
    assert _emails(edition) == ["anna@aarhus.dk", "HANNE@aarhus.dk", "ole@odense.dk", "sara@kl.dk"]


def test_one_organisation(edition, orders):
    assert _emails(edition, organisation="Odense Kommune") == ["ole@odense.dk"]


def test_one_ticket_type(edition, orders):
    speaker_type = edition.ticket_types[1].id
    assert _emails(edition, ticket_type_id=speaker_type) == ["sara@kl.dk"]


def test_not_checked_in(edition, orders):
    check_in(orders["aarhus"].order.attendees[0])
    assert _emails(edition, not_checked_in=True) == [
        "HANNE@aarhus.dk",
        "ole@odense.dk",
        "sara@kl.dk",
    ]


def test_filters_combine_and_bookers_come_once(edition, orders):
    # Hanne is participant and booker (in another case): one copy, as participant.
    assert _emails(edition, organisation="Aarhus Kommune", include_bookers=True) == [
        "anna@aarhus.dk",
        "HANNE@aarhus.dk",
    ]
    assert _emails(edition, include_bookers=True) == [
        "anna@aarhus.dk",
        "HANNE@aarhus.dk",
        "ole@odense.dk",
        "sara@kl.dk",
        "bo@odense.dk",
        "kim@kl.dk",
    ]


def test_cancelled_places_and_other_editions_are_left_out(edition, orders):
    cancel_attendee(orders["aarhus"].order.attendees[0], actor="staff:1")
    db.session.commit()
    assert "anna@aarhus.dk" not in _emails(edition)


def test_the_same_address_in_two_orders_gets_one_copy(edition, orders):
    place(edition, [("Ole igen", "Ole@Odense.dk ")], organisation="Odense Kommune")
    assert _emails(edition, organisation="Odense Kommune") == ["ole@odense.dk"]


def test_a_ticket_type_of_another_edition_is_refused(edition, orders):
    try:
        recipients(edition, Audience(ticket_type_id=99999))
    except DomainError as error:
        assert error.field == "ticket_type_id"
    else:
        raise AssertionError("an unknown ticket type was accepted")


def test_preview_renders_for_the_first_recipient_and_writes_nothing(edition, orders):
    before = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    shown = preview(edition, Audience(organisation="Odense Kommune"), TEXT)
    assert [r.email for r in shown.recipients] == ["ole@odense.dk"]
    # Ole's order is in English: he gets the English version.
    assert shown.sample_subject == "Practical"
    assert "Dear Ole Olsen," in shown.sample_text and "Bring your badge." in shown.sample_text
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == before
    assert db.session.scalar(select(func.count()).select_from(CommunicationMessage)) == 0


def test_sending_queues_one_message_per_address_in_its_language(edition, orders):
    before = {m.id for m in outbox()}
    message = send_message(edition, Audience(include_bookers=True), TEXT, actor="staff:1")
    db.session.commit()
    sent = [m for m in outbox("communication") if m.id not in before]
    assert sorted(m.to_address for m in sent) == sorted(
        [
            "anna@aarhus.dk",
            "HANNE@aarhus.dk",
            "ole@odense.dk",
            "sara@kl.dk",
            "bo@odense.dk",
            "kim@kl.dk",
        ]
    )
    by_address = {m.to_address: m for m in sent}
    assert by_address["ole@odense.dk"].subject == "Practical"
    assert by_address["bo@odense.dk"].subject == "Practical"
    assert by_address["anna@aarhus.dk"].subject == "Praktisk information"
    assert "Kære Anna Andersen" in by_address["anna@aarhus.dk"].body_text
    assert message.recipient_count == 6
    rows = db.session.scalars(select(CommunicationRecipient).order_by(CommunicationRecipient.id))
    assert {r.outbox_message_id for r in rows} == {m.id for m in sent}


def test_without_an_english_version_everyone_gets_danish(edition, orders):
    send_message(edition, Audience(), MessageText("Kun dansk", "Tekst"), actor="staff:1")
    db.session.commit()
    assert {m.subject for m in outbox("communication")} == {"Kun dansk"}


def test_sending_refuses_when_the_recipients_changed_since_the_preview(edition, orders):
    try:
        send_message(edition, Audience(), TEXT, actor="staff:1", expected_count=3)
    except DomainError as error:
        assert "4" in error.message
    else:
        raise AssertionError("sent to a different number than previewed")
    db.session.rollback()
    assert outbox("communication") == []


def test_half_an_english_version_is_refused(edition, orders):
    for text, field in (
        (MessageText("Emne", "Tekst", subject_en="Subject"), "body_en"),
        (MessageText("Emne", "Tekst", body_en="Text"), "subject_en"),
        (MessageText("", "Tekst"), "subject"),
        (MessageText("Emne", "  "), "body"),
    ):
        try:
            preview(edition, Audience(), text)
        except DomainError as error:
            assert error.field == field
        else:
            raise AssertionError(f"{text} was accepted")


def test_a_line_break_in_the_subject_cannot_reach_the_header(edition, orders):
    send_message(
        edition, Audience(), MessageText("Emne\r\nBcc: x@evil.test", "Tekst"), actor="staff:1"
    )
    db.session.commit()
    assert {m.subject for m in outbox("communication")} == {"Emne Bcc: x@evil.test"}
