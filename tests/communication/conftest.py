"""Orders of several organisations and ticket types to write to."""

from __future__ import annotations

import pytest

from conference.core.db import db, utcnow
from conference.registration.services import AttendeeDetails, place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details


def place(edition, attendees, *, ticket_type=0, **overrides):
    """A confirmed order of (name, email) attendees; returns the PlacedOrder."""
    details = booking_details(
        edition,
        len(attendees),
        attendees=[AttendeeDetails(name=n, email=e) for n, e in attendees],
        ticket_type_id=edition.ticket_types[ticket_type].id,
        **overrides,
    )
    if ticket_type:
        details.access_code = edition.ticket_types[ticket_type].access_code
    placed = place_order(edition, details)
    db.session.commit()
    return placed


@pytest.fixture
def orders(edition):
    """Aarhus (2 participants, one also booker), Odense (1, English), a speaker from KL."""
    aarhus = place(
        edition,
        [("Anna Andersen", "anna@aarhus.dk"), ("Hanne Jensen", "HANNE@aarhus.dk")],
        booker_email="hanne@aarhus.dk",
    )
    odense = place(
        edition,
        [("Ole Olsen", "ole@odense.dk")],
        organisation="Odense Kommune",
        booker_name="Bo Booker",
        booker_email="bo@odense.dk",
        language="en",
    )
    speaker = place(
        edition,
        [("Sara Taler", "sara@kl.dk")],
        ticket_type=1,
        organisation="KL",
        booker_name="Kim KL",
        booker_email="kim@kl.dk",
    )
    return {"aarhus": aarhus, "odense": odense, "speaker": speaker}


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


def check_in(attendee):
    attendee.checked_in_at = utcnow()
    attendee.checked_in_by = "staff:1"
    db.session.commit()
