"""The outbox worker delivers over a real SMTP server, with retries and backoff."""

from __future__ import annotations

import threading
from datetime import timedelta

import icalendar
from sqlalchemy import select

from conference.core.db import db, utcnow
from conference.mail.models import OutboxMessage, OutboxStatus
from conference.mail.services import send_due_messages
from conference.registration.services import place_order
from tests.conftest import booking_details, postgres_only
from tests.mail.helpers import manage_path, outbox


def _ics_of(email) -> icalendar.Event:
    (part,) = [p for p in email.iter_attachments() if p.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(part.get_content())
    return next(iter(calendar.walk("VEVENT")))


def test_order_delivers_a_confirmation_to_the_booker_and_a_ticket_to_each_attendee(
    edition, inbox, client
):
    placed = place_order(edition, booking_details(edition, 2))
    db.session.commit()

    result = send_due_messages()

    assert result.sent == 3
    assert sorted(m["To"] for m in inbox.messages) == [
        "hanne@aarhus.dk",
        "kollega1@aarhus.dk",
        "kollega2@aarhus.dk",
    ]
    (confirmation,) = inbox.to("hanne@aarhus.dk")
    assert placed.order.reference in confirmation["Subject"]
    assert confirmation["Content-Language"] == "da"
    text = confirmation.get_body(("plain",)).get_content()
    html = confirmation.get_body(("html",)).get_content()
    assert "Tilmeldingen er bindende, men du er velkommen til at sende en kollega." in html
    assert "mandag" in text
    booker_link = manage_path(text)
    assert f'href="http://localhost{booker_link}"' in html
    # The invoice travels with the confirmation as a PDF the worker rendered and stored.
    (invoice_pdf,) = list(confirmation.iter_attachments())
    assert invoice_pdf.get_content_type() == "application/pdf"
    assert invoice_pdf.get_filename().startswith("Faktura-")
    assert invoice_pdf.get_content().startswith(b"%PDF")

    for address in ("kollega1@aarhus.dk", "kollega2@aarhus.dk"):
        (ticket,) = inbox.to(address)
        assert edition.name in ticket["Subject"]
        ticket_text = ticket.get_body(("plain",)).get_content()
        link = manage_path(ticket_text)
        assert link != booker_link
        assert f'href="http://localhost{link}"' in ticket.get_body(("html",)).get_content()
        assert str(_ics_of(ticket)["summary"]) == edition.name
        # The link in the mail opens the attendee's page.
        assert client.get(link).status_code == 200
    assert client.get(booker_link).status_code == 200

    assert all(m.status == OutboxStatus.SENT and m.attempts == 1 for m in outbox())
    assert send_due_messages().sent == 0
    assert len(inbox.messages) == 3


def test_an_english_order_gets_english_mail_and_calendar(edition, inbox):
    place_order(edition, booking_details(edition, 1, language="en"))
    db.session.commit()
    send_due_messages()
    (confirmation,) = inbox.to("hanne@aarhus.dk")
    (ticket,) = inbox.to("kollega1@aarhus.dk")
    for email in (confirmation, ticket):
        assert email["Content-Language"] == "en"
        assert edition.name_en in email["Subject"]
        assert "Monday" in email.get_body(("plain",)).get_content()
    assert str(_ics_of(ticket)["summary"]) == edition.name_en
    part = next(ticket.iter_attachments())
    assert part.get_param("method") == "PUBLISH"
    assert part.get_filename().endswith(".ics")


def test_smtp_down_then_up_loses_nothing_and_sends_each_once(edition, smtp_server):
    place_order(edition, booking_details(edition, 3))
    db.session.commit()

    # Nothing listens on the port yet.
    before = utcnow()
    result = send_due_messages()
    assert (result.sent, result.failed, result.gave_up) == (0, 1, 0)
    first, *rest = outbox()
    assert first.status == OutboxStatus.PENDING
    assert first.attempts == 1
    assert "Connection" in first.last_error or "refused" in first.last_error.lower()
    assert first.next_attempt_at >= before + timedelta(seconds=59)
    # The round stopped at the unreachable server: the others were not touched.
    assert all(m.attempts == 0 and m.status == OutboxStatus.PENDING for m in rest)

    smtp_server.start()
    # The first is waiting for its backoff; the rest go now.
    assert send_due_messages().sent == 3
    assert outbox()[0].status == OutboxStatus.PENDING
    assert send_due_messages(now=utcnow() + timedelta(minutes=2)).sent == 1
    assert send_due_messages(now=utcnow() + timedelta(days=1)).sent == 0

    addresses = sorted(m["To"] for m in smtp_server.inbox.messages)
    assert addresses == sorted(
        ["hanne@aarhus.dk", "kollega1@aarhus.dk", "kollega2@aarhus.dk", "kollega3@aarhus.dk"]
    )
    messages = outbox()
    assert all(m.status == OutboxStatus.SENT for m in messages)
    assert messages[0].attempts == 2 and messages[0].last_error is None


def test_backoff_grows_and_the_worker_gives_up_after_max_attempts(app, edition, smtp_port):
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    place_order(edition, booking_details(edition, 1))
    db.session.commit()
    first_id = outbox()[0].id

    now = utcnow()
    delays = []
    for _ in range(3):
        send_due_messages(now=now)
        message = db.session.get(OutboxMessage, first_id)
        delays.append(message.next_attempt_at - now)
        now = message.next_attempt_at
    db.session.expire_all()
    message = db.session.get(OutboxMessage, first_id)
    assert message.status == OutboxStatus.FAILED
    assert message.attempts == 3
    assert message.last_error
    assert delays[0] == timedelta(minutes=1) and delays[1] == timedelta(minutes=2)
    # A failed message is not tried again.
    assert send_due_messages(now=now + timedelta(days=1)).failed == 1  # the other one
    assert db.session.get(OutboxMessage, first_id).attempts == 3


def test_a_refused_recipient_fails_at_once_and_does_not_block_the_others(app, edition, inbox):
    inbox.refuse.add("kollega1@aarhus.dk")
    place_order(edition, booking_details(edition, 2))
    db.session.commit()

    result = send_due_messages()

    assert (result.sent, result.gave_up) == (2, 1)
    refused = [m for m in outbox() if m.to_address == "kollega1@aarhus.dk"][0]
    assert refused.status == OutboxStatus.FAILED
    assert "550" in refused.last_error
    assert sorted(m["To"] for m in inbox.messages) == ["hanne@aarhus.dk", "kollega2@aarhus.dk"]

    # Once the address is fixed on the server side, an operator queues it again.
    inbox.refuse.clear()
    cli = app.test_cli_runner().invoke(args=["outbox", "retry-failed"])
    assert cli.exit_code == 0, cli.output
    assert "Queued 1" in cli.output
    assert send_due_messages().sent == 1
    assert len(inbox.to("kollega1@aarhus.dk")) == 1


def test_outbox_run_once_command_sends_what_is_due(app, edition, inbox):
    place_order(edition, booking_details(edition, 2))
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["outbox", "run", "--once"])

    assert result.exit_code == 0, result.output
    assert "Sent 3" in result.output
    assert len(inbox.messages) == 3
    again = app.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert again.exit_code == 0
    assert len(inbox.messages) == 3


@postgres_only
def test_two_workers_never_send_the_same_message(app, edition, inbox):
    for number in range(2):
        details = booking_details(edition, 15, booker_email=f"booker{number}@kommune.dk")
        for index, attendee in enumerate(details.attendees):
            attendee.email = f"p{number}-{index}@kommune.dk"
        place_order(edition, details)
    db.session.commit()
    total = len(outbox())
    assert total == 32
    # A slow server keeps each message locked a while, so the workers overlap.
    inbox.delay = 0.03
    start = threading.Barrier(2)
    sent: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                start.wait()
                sent.append(send_due_messages().sent)
                db.session.remove()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    addresses = [m["To"] for m in inbox.messages]
    assert len(addresses) == total
    assert len(set(addresses)) == total
    assert sum(sent) == total
    # Both did work: SKIP LOCKED lets them share the queue instead of waiting.
    assert min(sent) > 0
    db.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert all(m.status == OutboxStatus.SENT and m.attempts == 1 for m in rows)
