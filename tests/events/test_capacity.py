"""Capacity: places are claimed and released with conditional writes, never past the limits."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from conference.core.db import db
from conference.core.errors import CapacityConflict, NotEnoughPlaces
from conference.core.models import AuditEvent
from conference.events.models import Quota
from conference.events.services import change_capacity, claim_places, places_left, release_places
from conference.registration.models import Order
from conference.registration.services import place_order
from tests.conftest import booking_details


def _quota(edition) -> Quota:
    """The quota as the database has it now, not as the session remembers it."""
    quota_id = edition.quotas[0].id
    return db.session.execute(
        select(Quota).where(Quota.id == quota_id).execution_options(populate_existing=True)
    ).scalar_one()


def test_claim_takes_places_until_full_and_never_more(small_edition):
    quota_id = small_edition.quotas[0].id
    assert claim_places(quota_id, 3) is True
    assert claim_places(quota_id, 3) is False  # only 2 left: all or nothing
    assert places_left(quota_id) == 2
    assert claim_places(quota_id, 2) is True
    assert claim_places(quota_id, 1) is False
    db.session.commit()
    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (5, 5)
    assert places_left(quota_id) == 0


def test_claim_refuses_nonsense_counts(small_edition):
    quota_id = small_edition.quotas[0].id
    for count in (0, -1):
        with pytest.raises(ValueError):
            claim_places(quota_id, count)
    assert _quota(small_edition).taken == 0


def test_lowering_capacity_below_taken_is_refused_and_changes_nothing(small_edition):
    quota_id = small_edition.quotas[0].id
    place_order(small_edition, booking_details(small_edition, 4))
    db.session.commit()
    audit_before = db.session.scalar(select(func.count()).select_from(AuditEvent))

    with force_locale("en"), pytest.raises(CapacityConflict) as raised:
        change_capacity(quota_id, 3, actor="organiser@example.dk")
    # What the organiser reads: the number asked for and what is already taken.
    assert "3" in raised.value.message
    assert "4 places are already" in raised.value.message
    assert raised.value.field == "capacity"
    db.session.commit()  # even a commit after the refusal must not change anything

    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (5, 4)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before


def test_negative_capacity_is_refused(small_edition):
    with pytest.raises(CapacityConflict):
        change_capacity(small_edition.quotas[0].id, -1, actor="organiser@example.dk")
    db.session.rollback()
    assert _quota(small_edition).capacity == 5


def test_capacity_may_be_lowered_exactly_to_taken_then_nothing_is_left(small_edition):
    quota_id = small_edition.quotas[0].id
    place_order(small_edition, booking_details(small_edition, 2))
    db.session.commit()
    quota = change_capacity(quota_id, 2, actor="organiser@example.dk")
    db.session.commit()
    assert (quota.capacity, quota.taken) == (2, 2)
    with pytest.raises(NotEnoughPlaces) as raised:
        place_order(small_edition, booking_details(small_edition, 1))
    db.session.rollback()
    assert raised.value.places_left == 0
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_raising_capacity_lets_a_refused_group_in(small_edition):
    quota_id = small_edition.quotas[0].id
    place_order(small_edition, booking_details(small_edition, 4))
    db.session.commit()
    with pytest.raises(NotEnoughPlaces):
        place_order(small_edition, booking_details(small_edition, 3))
    db.session.rollback()
    change_capacity(quota_id, 7, actor="organiser@example.dk")
    db.session.commit()
    place_order(small_edition, booking_details(small_edition, 3))
    db.session.commit()
    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (7, 7)


def test_release_never_goes_below_zero(small_edition):
    quota_id = small_edition.quotas[0].id
    assert claim_places(quota_id, 2)
    release_places(quota_id, 1)
    assert places_left(quota_id) == 4
    # Releasing more than is taken is a bookkeeping error: it must not go negative.
    release_places(quota_id, 5)
    release_places(quota_id, 0)
    db.session.commit()
    assert _quota(small_edition).taken == 1
    release_places(quota_id, 1)
    release_places(quota_id, 1)
    db.session.commit()
    assert _quota(small_edition).taken == 0


def test_two_sequential_orders_cannot_oversell(small_edition):
    place_order(small_edition, booking_details(small_edition, 3))
    db.session.commit()
    with pytest.raises(NotEnoughPlaces):
        place_order(small_edition, booking_details(small_edition, 3))
    db.session.commit()
    place_order(small_edition, booking_details(small_edition, 2))
    db.session.commit()
    with pytest.raises(NotEnoughPlaces):
        place_order(small_edition, booking_details(small_edition, 1))
    db.session.rollback()
    assert _quota(small_edition).taken == 5
    assert db.session.scalar(select(func.count()).select_from(Order)) == 2


@pytest.mark.parametrize(
    "values",
    [{"taken": -1}, {"taken": 6}, {"capacity": 2}],
    ids=["negative-taken", "taken-above-capacity", "capacity-below-taken"],
)
def test_check_constraints_guard_the_quota_row(small_edition, values):
    quota_id = small_edition.quotas[0].id
    assert claim_places(quota_id, 3)
    db.session.commit()
    # A direct write that skips the services is stopped by the database itself.
    with pytest.raises(IntegrityError):
        db.session.execute(update(Quota).where(Quota.id == quota_id).values(**values))
        db.session.flush()
    db.session.rollback()
    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (5, 3)


def test_check_constraints_exist_in_the_migrated_schema(app):
    # The migrations, not the models, build the test database: prove they carry the checks.
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        sql = db.session.execute(
            text("SELECT sql FROM sqlite_master WHERE type='table' AND name='quota'")
        ).scalar_one()
        assert "taken >= 0" in sql and "taken <= capacity" in sql
    else:
        names = set(
            db.session.execute(
                text(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'quota'::regclass "
                    "AND contype = 'c'"
                )
            ).scalars()
        )
        assert {"ck_quota_taken_not_negative", "ck_quota_taken_within_capacity"} <= names
