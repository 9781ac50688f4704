"""A new edition made by copying last year's: every date shifted, settings and the hall
copied, nothing personal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Date, DateTime, func, inspect, select

from conference.core.db import db
from conference.core.models import AuditEvent
from conference.events.models import AccessCode, Edition, Quota, TicketType
from conference.events.services import copenhagen_date
from conference.invoicing.models import Invoice
from conference.registration.models import Attendee, Order, WaitingListEntry
from conference.registration.services import place_order
from conference.stands.models import (
    ExhibitorPass,
    Stand,
    StandAddon,
    StandBooking,
    StandHall,
    StandPackage,
)
from tests.auth.helpers import log_in, make_staff
from tests.backoffice.stands_helpers import insert_booking, make_hall
from tests.conftest import booking_details, csrf_token_from


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


@pytest.fixture
def last_year(edition):
    """The demo edition with sales: an order, a used access code, an early-bird price,
    a hall with a booked stand and its staff, and a staff deadline."""
    speaker = next(t for t in edition.ticket_types if t.access_code == "TALER2027")
    participant = edition.ticket_types[0]
    participant.early_bird_price_net_ore = 199_500
    participant.early_bird_until = copenhagen_date(edition.starts_at) - timedelta(days=60)
    db.session.commit()
    place_order(edition, booking_details(edition, 2))
    place_order(
        edition,
        booking_details(
            edition, 1, ticket_type_id=speaker.id, access_code="TALER2027", booker_email="t@x.dk"
        ),
    )
    db.session.commit()
    hall = make_hall(edition)
    hall["hall"].staff_deadline = edition.starts_at - timedelta(days=7)
    db.session.commit()
    insert_booking(edition, hall["A1"], staff=("Mette Holm",))
    return edition


def _copy(organiser, source, **data):
    page = organiser.get(f"/staff/e/{source.slug}/copy")
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        "name": "Digitaliseringstræf 2029",
        "name_en": "Municipal Digitalisation Conference 2029",
        "slug": "traef-2029",
        "starts_on": "",
    }
    form.update(data)
    return organiser.post(f"/staff/e/{source.slug}/copy", data=form)


def _dates(obj) -> dict:
    return {
        column.key: getattr(obj, column.key)
        for column in inspect(type(obj)).column_attrs
        if isinstance(column.columns[0].type, DateTime | Date)
        and column.key != "created_at"
        and getattr(obj, column.key) is not None
    }


def test_copy_shifts_every_date_and_copies_settings_not_people(organiser, last_year):
    source = last_year
    old_day = copenhagen_date(source.starts_at)
    new_day = old_day + timedelta(days=371)
    response = _copy(organiser, source, starts_on=new_day.isoformat())
    assert response.status_code == 303
    new = db.session.scalar(select(Edition).where(Edition.slug == "traef-2029"))
    assert new.name == "Digitaliseringstræf 2029"
    assert copenhagen_date(new.starts_at) == new_day

    # Every date column of the edition, its ticket types and the hall moved 371 days,
    # and the Copenhagen clock time stayed (08:30 stays 08:30 across daylight saving).
    from flask_babel import to_user_timezone

    old_dates, new_dates = _dates(source), _dates(new)
    assert set(old_dates) == set(new_dates) and len(old_dates) >= 5
    for key, old in old_dates.items():
        old_local, new_local = to_user_timezone(old), to_user_timezone(new_dates[key])
        assert (new_local.date() - old_local.date()).days == 371, key
        assert new_local.time() == old_local.time(), key
    old_type, new_type = source.ticket_types[0], new.ticket_types[0]
    assert new_type.early_bird_until == old_type.early_bird_until + timedelta(days=371)
    old_hall = db.session.scalar(select(StandHall).where(StandHall.edition_id == source.id))
    new_hall = db.session.scalar(select(StandHall).where(StandHall.edition_id == new.id))
    assert to_user_timezone(new_hall.staff_deadline).date() == to_user_timezone(
        old_hall.staff_deadline
    ).date() + timedelta(days=371)

    # Texts, settings, prices and quotas copied; nothing taken.
    for key in ("description", "programme", "venue_name", "seller_cvr", "max_group_size"):
        assert getattr(new, key) == getattr(source, key)
    assert [(q.capacity, q.taken) for q in new.quotas] == [(600, 0)]
    assert [
        (t.name, t.price_net_ore, t.is_public, t.early_bird_price_net_ore) for t in new.ticket_types
    ] == [
        (t.name, t.price_net_ore, t.is_public, t.early_bird_price_net_ore)
        for t in source.ticket_types
    ]
    assert all(t.quota_id == new.quotas[0].id for t in new.ticket_types)
    codes = db.session.scalars(select(AccessCode).where(AccessCode.edition_id == new.id)).all()
    assert sorted((c.code, c.used, c.max_uses, c.price_net_ore) for c in codes) == [
        ("PRESSE", 0, 100, 0),
        ("TALER2027", 0, 100, 0),
    ]
    assert {c.ticket_type.edition_id for c in codes} == {new.id}
    # The hall: packages, add-ons and stands, all free.
    assert new_hall.terms == old_hall.terms and new_hall.width_cm == old_hall.width_cm
    count = lambda model: db.session.scalar(  # noqa: E731
        select(func.count()).select_from(model).where(model.edition_id == new.id)
    )
    assert count(StandPackage) == 2 and count(StandAddon) == 2 and count(Stand) == 4
    stands = db.session.scalars(select(Stand).where(Stand.edition_id == new.id)).all()
    assert {s.status for s in stands} == {"free"} and {s.booking_id for s in stands} == {None}
    assert {s.package.edition_id for s in stands} == {new.id}
    # Nothing personal.
    for model in (Order, WaitingListEntry, StandBooking, ExhibitorPass, Invoice):
        assert count(model) == 0, model
    assert (
        db.session.scalar(
            select(func.count(Attendee.id)).join(Attendee.order).where(Order.edition_id == new.id)
        )
        == 0
    )
    # The source is untouched.
    assert source.quotas[0].taken == 3
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "edition.copied"))
    assert audit.object_id == new.id and audit.data["source"] == "traef"
    assert audit.data["days_shifted"] == 371


def test_a_taken_slug_is_refused_next_to_the_field(organiser, last_year):
    before = db.session.scalar(select(func.count(Edition.id)))
    response = _copy(organiser, last_year, slug="traef", starts_on="2030-03-01")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="slug-error"' in html
    assert "This address is already used by another edition." in html
    assert db.session.scalar(select(func.count(Edition.id))) == before
    assert db.session.scalar(select(func.count(Quota.id))) == 1


@pytest.mark.parametrize("slug", ["Traef 2029", "x", "træf-2029"])
def test_a_malformed_slug_is_refused(organiser, last_year, slug):
    response = _copy(organiser, last_year, slug=slug, starts_on="2030-03-01")
    assert response.status_code == 422
    assert 'id="slug-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(TicketType.id))) == 3


def test_missing_day_is_refused(organiser, last_year):
    response = _copy(organiser, last_year)
    assert response.status_code == 422
    assert 'id="starts_on-error"' in response.get_data(as_text=True)


def test_copy_form_suggests_next_year_in_danish(organiser, last_year):
    html = organiser.get(f"/staff/e/{last_year.slug}/copy?lang=da").get_data(as_text=True)
    expected = copenhagen_date(last_year.starts_at) + timedelta(weeks=52)
    assert f'value="{expected.isoformat()}"' in html
    assert "Ikke kopieret" in html


def test_only_organisers_copy(client, last_year):
    make_staff("kasse@example.dk", role="accounting")
    log_in(client, "kasse@example.dk")
    assert client.get(f"/staff/e/{last_year.slug}/copy").status_code == 403
