"""The ICS calendar attachment on ticket e-mails."""

from __future__ import annotations

from datetime import UTC

import icalendar

from conference.core.db import db
from conference.registration.services import place_order
from tests.conftest import booking_details
from tests.mail.helpers import attachment_bytes, outbox


def _event(data: bytes) -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return events[0]


def test_ticket_carries_a_calendar_file_with_the_event_in_utc(edition):
    place_order(edition, booking_details(edition, 2))
    db.session.commit()
    tickets = outbox("ticket")
    assert len(tickets) == 2
    # The booker's confirmation carries the invoice, not the calendar file.
    (invoice_pdf,) = outbox("order_confirmation")[0].attachments
    assert invoice_pdf["content_type"] == "application/pdf"
    for ticket in tickets:
        # The calendar file, then the ticket PDF (rendered when the mail is sent).
        attachment, ticket_pdf = ticket.attachments
        assert ticket_pdf["content_type"] == "application/pdf"
        assert attachment["filename"].endswith(".ics")
        assert attachment["content_type"].startswith("text/calendar")
        data = attachment_bytes(ticket)
        event = _event(data)
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start == edition.starts_at.replace(tzinfo=UTC)
        assert end == edition.ends_at.replace(tzinfo=UTC)
        assert start.utcoffset().total_seconds() == 0
        # Written as UTC ("Z"), so every calendar shows the right local time.
        assert f"DTSTART:{edition.starts_at:%Y%m%dT%H%M%S}Z" in data.decode()
        assert f"DTEND:{edition.ends_at:%Y%m%dT%H%M%S}Z" in data.decode()
        assert str(event["summary"]) == edition.name
        assert str(event["location"]) == f"{edition.venue_name}, {edition.venue_address}"
        assert event["uid"]


def test_calendar_summary_follows_the_orders_language(edition):
    place_order(edition, booking_details(edition, 1, language="en"))
    db.session.commit()
    event = _event(attachment_bytes(outbox("ticket")[0]))
    assert str(event["summary"]) == edition.name_en
    assert edition.name_en != edition.name
    assert "Frederiksberg" in str(event["location"])
