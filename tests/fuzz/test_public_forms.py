"""Hypothesis drives the public forms with arbitrary input: never a 500, and an
answer that is not a success writes nothing (not a row, not a changed value).

The forms: registration, the waiting list, the transfer form, the stand booking
form, the exhibitor's manage forms (naming staff, changing a name, extra passes,
the profile and its logo), staff login and its code step, and the door's scan and
search (staff only, but what it reads is whatever QR code is held up to it).
Accepting or leaving an offer takes no input but the link (the addresses below).
"""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from conference.core.db import db
from conference.registration.models import Order
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
# The forms that are not the registration: fewer examples each, the suite stays quick.
FUZZ_MORE = settings(FUZZ, max_examples=50)


def _rows() -> dict[str, list[str]]:
    """Every row of every table: a refusal may neither add a row nor change one."""
    return {
        t.name: sorted(repr(tuple(row)) for row in db.session.execute(select(t)))
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


@FUZZ_MORE
@given(slug=TYPED, query=TYPED)
def test_event_and_link_addresses_never_fail(client, edition, slug, query):
    typed = quote(slug, safe="")
    for url in (
        f"/e/{typed}",
        f"/m/{typed}",
        f"/m/{typed}/my-data.json",
        f"/w/{typed}",
        f"/s/{typed}",
        f"/pay/{typed}/done",
        f"/pay/cancel/{typed}",
        f"/e/{edition.slug}",
        f"/e/{edition.slug}/register",
        f"/e/{edition.slug}/exhibition/stands/{typed}",
        f"/e/{typed}/privacy",
        "/privacy",
    ):
        response = client.get(url, query_string={"n": query, "lang": query})
        assert response.status_code < 500, (url, response.status_code)
    for url in (f"/w/{typed}/accept", f"/w/{typed}/leave"):
        assert client.post(url, data={"x": query}).status_code < 500, url


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


# --- the waiting list -------------------------------------------------------------------


@pytest.fixture
def full(small_edition):
    """The conference is fully booked: the form's answer is the waiting list."""
    from conference.registration.services import place_order
    from tests.conftest import booking_details

    place_order(small_edition, booking_details(small_edition, small_edition.quotas[0].capacity))
    db.session.commit()
    return small_edition


@FUZZ_MORE
@given(changes=st.dictionaries(st.sampled_from(FIELDS), TYPED, min_size=1, max_size=8))
def test_the_waiting_list_form_never_fails_and_refusals_write_nothing(client, full, changes):
    data = booking_form(full, 1, **changes)
    db.session.rollback()
    before = _rows()
    response = client.post(f"/e/{full.slug}/waiting-list", data=data)
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    db.session.rollback()
    if response.status_code != 303:
        assert _rows() == before


@FUZZ_MORE
@given(email=TYPED | st.emails() | st.just("Hanne@Aarhus.dk"))
def test_the_link_request_form_never_fails_and_writes_only_for_a_registered_address(
    client, placed, email
):
    """Any address gets the same answer; only the registered one's links change."""
    db.session.rollback()
    before = _rows()
    response = client.post(f"/e/{placed.order.edition.slug}/my-link", data={"email": email})
    assert response.status_code in (303, 422), response.get_data(as_text=True)[:2000]
    db.session.rollback()
    registered = {"hanne@aarhus.dk", "kollega1@aarhus.dk"}
    if response.status_code == 422 or email.strip().lower() not in registered:
        assert _rows() == before


# --- the exhibition ----------------------------------------------------------------------

STAND_FIELDS = [
    "company",
    "cvr",
    "address",
    "postcode",
    "city",
    "contact_name",
    "contact_email",
    "contact_phone",
    "invoice_email",
    "ean",
    "personreference",
    "buyer_order_number",
    "accounting_cost",
    "terms_accepted",
    "addon-1",
    "addon-2",
    "addon-3",
    "addon-99999",
]


@pytest.fixture
def hall(edition):
    from tests.stands.conftest import make_hall

    return make_hall(edition)


@FUZZ_MORE
@given(
    code=st.sampled_from(["A1", "A2", "A3", "A4", "A5"]),
    changes=st.dictionaries(st.sampled_from(STAND_FIELDS), TYPED, min_size=1, max_size=8),
)
def test_the_stand_booking_form_never_fails_and_refusals_write_nothing(
    client, edition, hall, code, changes
):
    from tests.stands.conftest import booking_form_data

    db.session.rollback()
    before = _rows()
    response = client.post(
        f"/e/{edition.slug}/exhibition/stands/{code}", data=booking_form_data(**changes)
    )
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    db.session.rollback()
    if response.status_code != 303:
        assert _rows() == before


@pytest.fixture
def booked(edition, hall):
    """A booked stand with one named pass, whose manage forms the examples post."""
    from conference.stands import services
    from tests.stands.conftest import company_details, stand

    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    exhibitor_pass = services.name_staff(
        booked.booking, services.StaffDetails(name="Søren Ærø", email="soren@example.dk")
    )
    db.session.commit()
    return booked.token, exhibitor_pass.id


def _manage_post(token: str, pass_id: int, form: str, changes: dict, logo: bytes | None):
    """(path, data) of one of the exhibitor's manage forms, with the typed changes."""
    fields = {
        "staff": ("/staff", "staff", {"name": "Mette Holm", "email": "mette@example.dk"}),
        "change": (
            f"/staff/{pass_id}",
            f"pass-{pass_id}",
            {"name": "Mette Holm", "email": "mette@example.dk", "version": "1"},
        ),
        "extra": ("/extra-passes", "extra", {"quantity": "1"}),
        "profile": ("/profile", "profile", {"description": "", "website": ""}),
    }
    path, prefix, data = fields[form]
    data = {f"{prefix}-{key}": value for key, value in {**data, **changes}.items()}
    if logo is not None:
        data["profile-logo"] = (io.BytesIO(logo), "logo.png")
    return f"/s/{token}{path}", data


@FUZZ_MORE
@given(
    form=st.sampled_from(["staff", "change", "extra", "profile"]),
    changes=st.dictionaries(
        st.sampled_from(
            ["name", "email", "job_title", "version", "quantity", "description", "website"]
        ),
        TYPED,
        min_size=1,
        max_size=4,
    ),
    logo=st.none() | st.binary(max_size=2000) | st.just(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
)
def test_the_exhibitor_s_forms_never_fail_and_refusals_write_nothing(
    client, booked, form, changes, logo
):
    token, pass_id = booked
    path, data = _manage_post(token, pass_id, form, changes, logo if form == "profile" else None)
    db.session.rollback()
    before = _rows()
    response = client.post(path, data=data, content_type="multipart/form-data")
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    db.session.rollback()
    if response.status_code not in (302, 303):
        assert _rows() == before


# --- staff login and the door -------------------------------------------------------------


@pytest.fixture
def door_staff(app, edition):
    from tests.auth.helpers import make_staff

    make_staff("door@example.dk", "checkin")
    return app.test_client()


@settings(FUZZ, max_examples=20)  # each refused password costs a hash, on purpose
@given(email=st.just("door@example.dk") | TYPED, password=TYPED, next_url=TYPED, code=TYPED)
def test_staff_login_never_fails_and_a_refused_login_writes_nothing(
    door_staff, email, password, next_url, code
):
    db.session.rollback()
    before = _rows()
    response = door_staff.post(
        "/staff/login", data={"email": email, "password": password, "next": next_url}
    )
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    assert door_staff.post("/staff/login/code", data={"code": code}).status_code < 500
    db.session.rollback()
    assert _rows() == before


@FUZZ_MORE
@given(code=TYPED, query=TYPED)
def test_the_door_reads_any_code_without_failing_and_admits_no_one(
    door_staff, edition, code, query
):
    from conference.registration.services import place_order
    from tests.auth.helpers import log_in
    from tests.conftest import booking_details

    if not db.session.scalar(select(func.count()).select_from(Order)):
        place_order(edition, booking_details(edition, 2))
        db.session.commit()
        log_in(door_staff, "door@example.dk")
    db.session.rollback()
    before = _rows()
    door = f"/staff/e/{edition.slug}/checkin"
    response = door_staff.post(door, data={"code": code})
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    assert door_staff.get(door, query_string={"q": query}).status_code < 500
    db.session.rollback()
    assert _rows() == before  # nobody was let in by a code that is no ticket
