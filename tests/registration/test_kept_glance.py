"""A new visitor's form may show the free places as read a moment ago; a booking
when that moment found none at all, or more than a few.

In a rush every visitor's form asks how many places are left; each process
keeps that answer for REGISTRATION_GLANCE_SECONDS (the suite's own settings
keep nothing, so these tests use an app of their own). A booking is refused
from a kept answer that found no place left, and goes on to the claim from
one that found plenty; when few are left it is decided from a fresh read.
Only the claim takes places.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, func, select, update

from conference import create_app
from conference.core.db import db
from conference.events.models import Quota
from conference.registration.models import Order
from conference.registration.services import plenty_left, registration_glance
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


def _free(quota_id: int) -> None:
    db.session.execute(update(Quota).where(Quota.id == quota_id).values(taken=0))
    db.session.commit()


def _orders() -> int:
    return db.session.scalar(select(func.count(Order.id)))


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
        assert _orders() == 0


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


def test_a_booking_is_refused_from_a_moment_old_answer_that_found_no_place(
    database_url, small_edition
):
    slug, quota_id = small_edition.slug, small_edition.quotas[0].id
    form = booking_form(small_edition)
    _fill(quota_id)
    # Long enough that the post below comes well inside it, even on a slow machine.
    keeping = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": database_url, "REGISTRATION_GLANCE_SECONDS": 2.0}
    )
    try:
        with keeping.app_context():
            visitor = keeping.test_client()
            assert b'data-full="1"' in visitor.get(f"/e/{slug}/register").data
            _free(quota_id)
            # The places came free a moment after this process found none: the
            # booking is answered "fully booked", as a moment earlier, and nothing
            # is written or taken.
            response = visitor.post(f"/e/{slug}/register", data=form)
            assert response.status_code == 200
            assert b'data-outcome="full"' in response.data
            assert _orders() == 0
            assert db.session.get(Quota, quota_id).taken == 0
            time.sleep(2.1)
            # Once that answer is old, the same booking gets a free place.
            response = visitor.post(f"/e/{slug}/register", data=form)
            assert response.status_code == 303
            assert _orders() == 1
            db.session.expire_all()
            assert db.session.get(Quota, quota_id).taken == 1
    finally:
        with keeping.app_context():
            db.engine.dispose()


def test_a_booking_goes_by_a_kept_answer_of_plenty_and_the_claim_alone_decides(
    keeping_app, edition
):
    slug, quota_id = edition.slug, edition.quotas[0].id
    capacity = edition.quotas[0].capacity
    form = booking_form(edition)
    db.session.commit()
    with keeping_app.app_context():
        visitor = keeping_app.test_client()
        assert b'data-full="1"' not in visitor.get(f"/e/{slug}/register").data
        kept = registration_glance(slug, max_age=60)
        assert plenty_left(kept)
        # The places go elsewhere after this process looked: its answer still says
        # hundreds are free, and the booking goes by it ...
        _fill(quota_id)
        response = visitor.post(f"/e/{slug}/register", data=form)
        # ... to the claim, which refuses: the booker is told, nothing is written
        # and no place is taken beyond the capacity.
        assert response.status_code == 200
        assert b'data-outcome="full"' in response.data
        assert _orders() == 0
        db.session.expire_all()
        assert db.session.get(Quota, quota_id).taken == capacity
        # The refused claim showed the kept answer to be out of date: the next
        # request reads afresh, and keeps that.
        assert registration_glance(slug, max_age=60).left_in_all == 0


def test_a_kept_answer_of_plenty_spares_the_booking_its_own_read(keeping_app, edition):
    slug = edition.slug
    form = booking_form(edition)
    db.session.commit()
    with keeping_app.app_context():
        visitor = keeping_app.test_client()
        visitor.get(f"/e/{slug}/register")
        statements: list[str] = []

        def note(_conn, _cursor, statement, *_args) -> None:
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", note)
        try:
            response = visitor.post(f"/e/{slug}/register", data=form)
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        assert response.status_code == 303
        assert _orders() == 1
        # The edition was read for the order, the free places not once more.
        assert not any("sum(CASE WHEN q.capacity" in s for s in statements)
