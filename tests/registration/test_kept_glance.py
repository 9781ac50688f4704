"""A new visitor's form may show the free places as read a moment ago; a booking never.

In a rush every visitor's form asks how many places are left; each process
keeps that answer for REGISTRATION_GLANCE_SECONDS (the suite's own settings
keep nothing, so these tests use an app of their own).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select, update

from conference import create_app
from conference.core.db import db
from conference.events.models import Quota
from conference.registration.models import Order
from conference.registration.services import registration_glance
from tests.conftest import booking_form


@pytest.fixture
def keeping_app(database_url, app):
    kept = create_app(
        "testing",
        {"SQLALCHEMY_DATABASE_URI": database_url, "REGISTRATION_GLANCE_SECONDS": 60.0},
    )
    yield kept
    with kept.app_context():
        db.engine.dispose()


def _fill(quota_id: int) -> None:
    db.session.execute(update(Quota).where(Quota.id == quota_id).values(taken=Quota.capacity))
    db.session.commit()


def test_a_booking_is_refused_from_a_fresh_read_while_the_form_keeps_an_old_one(
    keeping_app, small_edition
):
    slug, quota_id = small_edition.slug, small_edition.quotas[0].id
    form = booking_form(small_edition)
    db.session.commit()  # the test's own session holds no lock (SQLite)
    with keeping_app.app_context():
        visitor = keeping_app.test_client()
        assert b'data-full="1"' not in visitor.get(f"/e/{slug}/register").data
        _fill(quota_id)
        # What a new visitor's form goes by still says five places are free ...
        assert registration_glance(slug, max_age=60).left_in_all == 5
        assert registration_glance(slug).left_in_all == 0
        # ... but posting the form is decided from a fresh read: refused, nothing written.
        response = visitor.post(f"/e/{slug}/register", data=form)
        assert b'data-outcome="full"' in response.data
        assert db.session.scalar(select(func.count(Order.id))) == 0


def test_the_form_shows_the_new_state_once_the_glance_is_old(database_url, small_edition):
    slug, quota_id = small_edition.slug, small_edition.quotas[0].id
    db.session.commit()
    brief = create_app(
        "testing",
        {"SQLALCHEMY_DATABASE_URI": database_url, "REGISTRATION_GLANCE_SECONDS": 0.2},
    )
    try:
        with brief.app_context():
            visitor = brief.test_client()
            assert b'data-full="1"' not in visitor.get(f"/e/{slug}/register").data
            _fill(quota_id)
            time.sleep(0.3)
            assert b'data-full="1"' in visitor.get(f"/e/{slug}/register").data
    finally:
        with brief.app_context():
            db.engine.dispose()
