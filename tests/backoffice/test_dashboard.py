"""The edition dashboard's figures and the capacity form."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from conference.core.db import db
from conference.core.models import AuditEvent
from conference.events.models import Quota
from conference.mail.models import OutboxMessage
from conference.registration.models import WaitingListEntry, WaitingStatus
from conference.registration.services import join_waiting_list, place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


def stats(html: str) -> dict[str, int]:
    """The dashboard's figures by their id, e.g. {"capacity": 600, ...}."""
    found = re.findall(r'id="stat-(\w+)">.*?<dd class="value">(\d+)</dd>', html, re.S)
    return {name: int(value) for name, value in found}


def _booking(edition, count, booker, **overrides):
    return booking_details(edition, count, booker_email=f"{booker}@aarhus.dk", **overrides)


def _quota(edition) -> Quota:
    quota = db.session.get(Quota, edition.quotas[0].id)
    db.session.refresh(quota)
    return quota


def test_empty_edition(organiser, edition):
    page = organiser.get(f"/staff/e/{edition.slug}")
    assert page.status_code == 200
    assert stats(page.get_data(as_text=True)) == {
        "capacity": 600,
        "confirmed": 0,
        "held": 0,
        "free": 600,
        "waiting": 0,
        "orders": 0,
    }


def test_dashboard_counts_orders_and_places(organiser, edition):
    place_order(edition, _booking(edition, 3, "first"))
    place_order(edition, _booking(edition, 2, "second"))
    place_order(edition, _booking(edition, 1, "third"))
    db.session.commit()
    html = organiser.get(f"/staff/e/{edition.slug}").get_data(as_text=True)
    assert stats(html) == {
        "capacity": 600,
        "confirmed": 6,
        "held": 0,
        "free": 594,
        "waiting": 0,
        "orders": 3,
    }
    assert "6 of 600 places taken" in html


def _full_edition_with_waiting_groups(edition):
    """small_edition (5 places) with 4 confirmed and two groups (3 and 2) waiting."""
    place_order(edition, _booking(edition, 4, "booked"))
    first = join_waiting_list(edition, _booking(edition, 3, "waiting-first")).entry
    second = join_waiting_list(edition, _booking(edition, 2, "waiting-second")).entry
    db.session.commit()
    return first, second


def test_dashboard_shows_the_waiting_list(organiser, small_edition):
    _full_edition_with_waiting_groups(small_edition)
    html = organiser.get(f"/staff/e/{small_edition.slug}").get_data(as_text=True)
    figures = stats(html)
    assert figures["confirmed"] == 4
    assert figures["free"] == 1
    assert figures["waiting"] == 5
    assert "5 people · 2 groups" in html


def test_raising_capacity_offers_places_to_the_waiting_list(organiser, small_edition):
    first, second = _full_edition_with_waiting_groups(small_edition)
    response = organiser.post(f"/staff/e/{small_edition.slug}/capacity", data={"capacity": "8"})
    assert response.status_code == 302
    page = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "The capacity is now 8 places. 1 waiting-list offer was sent." in page
    # 4 free places: the first group (3) gets an offer; the second (2) no longer fits.
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.status == WaitingStatus.OFFERED
    assert second.status == WaitingStatus.WAITING
    assert stats(page) == {
        "capacity": 8,
        "confirmed": 4,
        "held": 3,
        "free": 1,
        "waiting": 2,
        "orders": 1,
    }
    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (8, 7)
    offer = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "waiting_list_offer")
    )
    assert offer is not None and offer.to_address == "waiting-first@aarhus.dk"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "capacity.changed"))
    assert audit.actor.startswith("staff:") and audit.data == {
        "before": {"capacity": 5},
        "after": {"capacity": 8},
    }


def test_raising_capacity_enough_for_everyone_sends_two_offers(organiser, small_edition):
    _full_edition_with_waiting_groups(small_edition)
    response = organiser.post(
        f"/staff/e/{small_edition.slug}/capacity", data={"capacity": "10"}, follow_redirects=True
    )
    assert "2 waiting-list offers were sent." in response.get_data(as_text=True)
    offers = db.session.scalar(
        select(func.count()).where(OutboxMessage.kind == "waiting_list_offer")
    )
    assert offers == 2


def test_raising_capacity_without_a_waiting_list_sends_no_offers(organiser, edition):
    response = organiser.post(
        f"/staff/e/{edition.slug}/capacity", data={"capacity": "650"}, follow_redirects=True
    )
    assert "The capacity is now 650 places. 0 waiting-list offers were sent." in (
        response.get_data(as_text=True)
    )
    assert _quota(edition).capacity == 650


def test_lowering_capacity_below_what_is_taken_is_refused(organiser, small_edition):
    _full_edition_with_waiting_groups(small_edition)
    response = organiser.post(f"/staff/e/{small_edition.slug}/capacity", data={"capacity": "3"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(r'<p class="field-error" id="capacity-error">([^<]*)</p>', html)
    assert error, "no message next to the capacity field"
    assert "Capacity cannot be lowered to 3: 4 places are already confirmed or held." in (
        error.group(1)
    )
    assert 'aria-invalid="true"' in html
    db.session.expire_all()
    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (5, 4)
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.action == "capacity.changed")) is None
    )
    assert (
        db.session.scalar(
            select(func.count()).where(WaitingListEntry.status == WaitingStatus.WAITING)
        )
        == 2
    )


def test_lowering_capacity_to_what_is_taken_is_allowed(organiser, small_edition):
    _full_edition_with_waiting_groups(small_edition)
    response = organiser.post(
        f"/staff/e/{small_edition.slug}/capacity", data={"capacity": "4"}, follow_redirects=True
    )
    assert "The capacity is now 4 places." in response.get_data(as_text=True)
    assert stats(response.get_data(as_text=True))["free"] == 0


@pytest.mark.parametrize("value", ["", "abc", "-1", "1000000", "2.5"])
def test_capacity_that_is_not_a_sensible_number_is_refused(organiser, edition, value):
    response = organiser.post(f"/staff/e/{edition.slug}/capacity", data={"capacity": value})
    assert response.status_code == 422
    assert 'class="field-error" id="capacity-error"' in response.get_data(as_text=True)
    assert _quota(edition).capacity == 600


def test_same_capacity_changes_nothing(organiser, edition):
    response = organiser.post(
        f"/staff/e/{edition.slug}/capacity", data={"capacity": "600"}, follow_redirects=True
    )
    assert "The capacity is unchanged." in response.get_data(as_text=True)
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.action == "capacity.changed")) is None
    )


def test_card_payments_in_progress_count_as_held(organiser, app, edition):
    app.config["STRIPE_SECRET_KEY"] = "sk_test_dashboard"
    place_order(edition, _booking(edition, 2, "card", payment_method="card"))
    place_order(edition, _booking(edition, 1, "invoice"))
    db.session.commit()
    figures = stats(organiser.get(f"/staff/e/{edition.slug}").get_data(as_text=True))
    assert (figures["confirmed"], figures["held"], figures["orders"]) == (1, 2, 1)
