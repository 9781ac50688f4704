"""An edition with every kind of personal data in it: orders, a transfer, a waiting-list
entry, a stand booking with named staff and a message sent to the participants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from conference.communication.services import Audience, MessageText, send_message
from conference.core.db import db, utcnow
from conference.registration.services import (
    AttendeeDetails,
    PlacedOrder,
    join_waiting_list,
    place_order,
)
from conference.stands.services import StaffDetails, book_stand, name_staff
from conference.transfers.services import Colleague, request_transfer
from tests.conftest import booking_details
from tests.stands.conftest import company_details, make_hall, stand


@dataclass
class Filled:
    placed: PlacedOrder
    other: PlacedOrder
    waiting_token: str
    stand_token: str


def fill(edition) -> Filled:
    placed = place_order(
        edition,
        booking_details(
            edition,
            2,
            attendees=[
                AttendeeDetails("Anna Andersen", "anna@aarhus.dk", "Chef", "Vegetar"),
                AttendeeDetails("Bent Berg", "bent@aarhus.dk", "Konsulent", "Nødder"),
            ],
        ),
    )
    other = place_order(
        edition,
        booking_details(
            edition,
            1,
            booker_name="Ole Odense",
            booker_email="ole@odense.dk",
            organisation="Odense Kommune",
            attendees=[AttendeeDetails("Olga Odense", "olga@odense.dk", "Leder", "")],
        ),
    )
    db.session.commit()
    bent = placed.order.attendees[1]
    request_transfer(
        bent,
        Colleague(name="Mads Madsen", email="mads@aarhus.dk", job_title="IT", dietary="Vegan"),
        expected_version=bent.ticket_version,
        requested_by="booker",
        requester_email="hanne@aarhus.dk",
    )
    db.session.commit()
    quota = edition.quotas[0]
    quota.capacity = quota.taken
    db.session.commit()
    joined = join_waiting_list(
        edition,
        booking_details(
            edition,
            1,
            booker_name="Wanda Venter",
            booker_email="wanda@vejle.dk",
            organisation="Vejle Kommune",
            attendees=[AttendeeDetails("Wilma Venter", "wilma@vejle.dk")],
        ),
    )
    db.session.commit()
    make_hall(edition)
    booked = book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    name_staff(booked.booking, StaffDetails("Per Pas", "per@kommunedata.dk", "Sælger"))
    db.session.commit()
    send_message(
        edition,
        Audience(include_bookers=True),
        MessageText("Praktisk", "Husk skiltet."),
        actor="staff:1",
    )
    db.session.commit()
    return Filled(placed=placed, other=other, waiting_token=joined.token, stand_token=booked.token)


def move_to_the_past(edition) -> None:
    now = utcnow()
    edition.registration_opens_at = now - timedelta(days=60)
    edition.registration_closes_at = now - timedelta(days=20)
    edition.transfer_deadline = now - timedelta(days=15)
    edition.starts_at = now - timedelta(days=10, hours=8)
    edition.ends_at = now - timedelta(days=10)
    db.session.commit()


@pytest.fixture
def filled(edition) -> Filled:
    return fill(edition)


@pytest.fixture
def past(edition, filled) -> Filled:
    move_to_the_past(edition)
    return filled
