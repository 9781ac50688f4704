"""Threads on the default database (SQLite in `make test`): BEGIN IMMEDIATE queues writers.

Every transaction on SQLite starts with BEGIN IMMEDIATE (conference.core.db),
so concurrent writers wait for the write lock instead of failing with
"database is locked" half way, and the conditional claim still never oversells.
Runs on PostgreSQL too, where it proves the same with row locks.
"""

from __future__ import annotations

from sqlalchemy import func, select

from conference.core.db import db
from conference.core.errors import DomainError
from conference.events.models import Edition, Quota
from conference.events.services import change_capacity
from conference.registration.models import Attendee, WaitingListEntry, WaitingStatus
from conference.registration.services import (
    held_places,
    join_waiting_list,
    offer_free_places,
    place_order,
)
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details


def _details(edition, count: int, who: str):
    details = booking_details(edition, count, booker_email=f"{who}@kommune.dk")
    for index, attendee in enumerate(details.attendees):
        attendee.email = f"{who}.{index + 1}@kommune.dk"
    return details


def _job(edition_id: int, action):
    def job():
        edition = db.session.get(Edition, edition_id)
        try:
            return ("done", action(edition))
        except DomainError as refusal:
            db.session.rollback()
            return ("refused", type(refusal).__name__)

    return job


def _confirmed() -> int:
    return db.session.scalar(select(func.count(Attendee.id)).where(Attendee.status == "confirmed"))


def test_a_few_threads_racing_for_few_places_neither_lock_up_nor_oversell(app, race_app, edition):
    edition.quotas[0].capacity = 5
    db.session.commit()
    edition_id, quota_id = edition.id, edition.quotas[0].id
    db.session.close()  # on SQLite an open transaction here would hold the write lock
    # As many singles as places: the race always ends full, whatever the order.
    sizes = [1, 2, 3, 1, 2, 1, 4, 1, 2, 1]

    outcomes = run_together(
        race_app,
        [
            _job(edition_id, lambda e, n=n, i=i: place_order(e, _details(e, n, f"b{i}")).order.id)
            for i, n in enumerate(sizes)
        ],
    )

    errors = [o.trace for o in outcomes if o.error is not None]
    assert not errors, "\n".join(errors)  # no "database is locked", nothing else either
    won = [n for n, o in zip(sizes, outcomes, strict=True) if o.value[0] == "done"]
    lost = [o.value for o in outcomes if o.value[0] == "refused"]
    assert sum(won) == 5
    assert lost and all(reason == "NotEnoughPlaces" for _, reason in lost)
    assert db.session.get(Quota, quota_id).taken == 5
    assert _confirmed() == 5


def test_threads_mixing_waiting_list_and_capacity_keep_the_books(app, race_app, edition):
    edition.quotas[0].capacity = 4
    db.session.commit()
    place_order(edition, _details(edition, 4, "early"))
    db.session.commit()
    for index, size in enumerate([2, 1, 3]):
        join_waiting_list(edition, _details(edition, size, f"wait{index}"))
        db.session.commit()
    edition_id, quota_id = edition.id, edition.quotas[0].id
    db.session.close()

    outcomes = run_together(
        race_app,
        [
            _job(edition_id, lambda e: change_capacity(quota_id, 7, actor="organiser").capacity),
            _job(edition_id, lambda e: len(offer_free_places(e))),
            _job(edition_id, lambda e: len(offer_free_places(e))),
            _job(edition_id, lambda e: place_order(e, _details(e, 1, "walkin")).order.id),
            _job(edition_id, lambda e: join_waiting_list(e, _details(e, 2, "late")).entry.id),
        ],
    )

    errors = [o.trace for o in outcomes if o.error is not None]
    assert not errors, "\n".join(errors)
    edition = db.session.get(Edition, edition_id)
    quota = db.session.get(Quota, quota_id)
    assert quota.capacity == 7
    assert quota.taken <= quota.capacity
    assert quota.taken == _confirmed() + held_places(edition)
    offered = db.session.scalars(
        select(WaitingListEntry.booker_email).where(
            WaitingListEntry.status == WaitingStatus.OFFERED
        )
    ).all()
    # The raise offers its 3 places in its own transaction: the pair and the single
    # at the head get them, so the walk-in finds nothing and the late pair must wait.
    assert sorted(offered) == ["wait0@kommune.dk", "wait1@kommune.dk"]
    assert held_places(edition) == 3
    assert outcomes[3].value == ("refused", "NotEnoughPlaces")
    assert outcomes[4].value[0] == "done"
