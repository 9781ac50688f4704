"""Hypothesis drives the public forms with arbitrary input: never a 500, and an
answer that is not a success writes nothing."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from conference.core.db import db
from tests.conftest import booking_form

# Text a person (or a bot) may type: any Unicode but surrogates, control
# characters and NUL included, sometimes very long.
TYPED = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
FIELDS = [
    "ticket_type_id",
    "booker_name",
    "booker_email",
    "booker_phone",
    "organisation",
    "organisation_type",
    "invoice_organisation",
    "invoice_address",
    "invoice_postcode",
    "invoice_city",
    "cvr",
    "ean",
    "personreference",
    "buyer_order_number",
    "accounting_cost",
    "attendee_count",
    "access_code",
    "payment_method",
    "attendees-0-name",
    "attendees-0-email",
    "attendees-0-job_title",
    "attendees-0-dietary",
    "attendees-25-name",
]
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _rows() -> dict[str, int]:
    return {
        t.name: db.session.scalar(select(func.count()).select_from(t))
        for t in db.metadata.sorted_tables
    }


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(FIELDS), TYPED, min_size=1, max_size=8))
def test_the_registration_form_never_fails_and_refusals_write_nothing(client, edition, changes):
    data = booking_form(edition, 1, **changes)
    db.session.rollback()
    before = _rows()
    response = client.post(f"/e/{edition.slug}/register", data=data)
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    db.session.rollback()
    if response.status_code != 303:
        assert _rows() == before


@FUZZ
@given(slug=TYPED, query=TYPED)
def test_event_and_manage_addresses_never_fail(client, edition, slug, query):
    typed = quote(slug, safe="")
    for url in (f"/e/{typed}", f"/m/{typed}", f"/w/{typed}", f"/e/{edition.slug}"):
        response = client.get(url, query_string={"n": query, "lang": query})
        assert response.status_code < 500, (url, response.status_code)


@pytest.fixture
def placed(edition):
    """One registration whose place the examples try to transfer (they share it)."""
    from conference.registration.services import place_order
    from tests.conftest import booking_details

    result = place_order(edition, booking_details(edition, 1))
    db.session.commit()
    return result


@FUZZ
@given(
    changes=st.dictionaries(
        st.sampled_from(["name", "email", "job_title", "dietary", "version", "confirm_outside"]),
        TYPED,
        min_size=1,
        max_size=5,
    )
)
def test_the_transfer_form_never_fails_and_refusals_write_nothing(client, placed, changes):
    from conference.registration.models import Attendee

    db.session.rollback()
    attendee = db.session.get(Attendee, placed.order.attendees[0].id)
    data = {
        "name": "Mads Madsen",
        "email": "mads@aarhus.dk",
        "job_title": "",
        "dietary": "",
        "version": str(attendee.ticket_version),
        **changes,
    }
    before = _rows()
    response = client.post(f"/m/{placed.booker_token}/transfer/{attendee.id}", data=data)
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    db.session.rollback()
    if response.status_code not in (302, 303):
        assert _rows() == before
