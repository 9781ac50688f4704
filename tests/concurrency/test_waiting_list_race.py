"""Waiting-list offers racing capacity changes, orders, acceptances and departures (PostgreSQL)."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conference.core.db import db, utcnow
from conference.core.errors import DomainError
from conference.events.models import Edition, Quota
from conference.events.services import change_capacity, release_places
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order, WaitingListEntry, WaitingStatus
from conference.registration.services import (
    accept_offer,
    expire_all_offers,
    held_places,
    join_waiting_list,
    leave_waiting_list,
    offer_free_places,
    place_order,
)
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only

ORGANISER = "organiser@example.dk"
GROUP_SIZES = [1, 2, 3, 1, 2, 1, 3, 1, 2, 1, 1, 2]


def _details(edition, count: int, who: str):
    details = booking_details(edition, count, booker_email=f"{who}@kommune.dk")
    for index, attendee in enumerate(details.attendees):
        attendee.email = f"{who}.{index + 1}@kommune.dk"
    return details


def _refusable(action):
    """A job whose domain refusal (full, expired, conflict) is a normal answer."""

    def job():
        try:
            return ("done", action())
        except DomainError as refusal:
            db.session.rollback()
            return ("refused", type(refusal).__name__)

    return job


def _edition(edition_id: int) -> Edition:
    return db.session.get(Edition, edition_id)


def _offer_token(address: str) -> str | None:
    body = db.session.scalar(
        select(OutboxMessage.body_text).where(
            OutboxMessage.kind == "waiting_list_offer", OutboxMessage.to_address == address
        )
    )
    match = re.search(r"/w/(\S+)", body or "")
    return match.group(1) if match else None


def _acceptor(address: str, patience: float = 1.5):
    """A booker who clicks the offer link as soon as the e-mail is there."""

    def job():
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            token = _offer_token(address)
            db.session.rollback()  # give the connection back while waiting
            if token:
                try:
                    placed = accept_offer(token)
                except DomainError as refusal:
                    db.session.rollback()
                    return ("refused", refusal.message)
                return ("accepted", placed.order.id)
            time.sleep(0.01)
        return ("no offer", None)

    return job


def _set_up(edition, capacity: int) -> tuple[int, int, list[tuple[int, str, str]]]:
    """A full edition with a waiting list; returns ids and (entry id, e-mail, manage token)."""
    quota = edition.quotas[0]
    quota.capacity = capacity
    db.session.commit()
    place_order(edition, _details(edition, capacity, "early"))
    db.session.commit()
    entries = []
    for index, size in enumerate(GROUP_SIZES):
        joined = join_waiting_list(edition, _details(edition, size, f"wait{index}"))
        db.session.commit()
        entries.append((joined.entry.id, f"wait{index}@kommune.dk", joined.token))
    ids = (edition.id, quota.id)
    db.session.close()
    return *ids, entries


def _check_books_balance(edition_id: int, quota_id: int) -> None:
    """taken == confirmed + held <= capacity, and each entry was offered at most once."""
    edition = db.session.get(Edition, edition_id)
    quota = db.session.get(Quota, quota_id)
    confirmed = db.session.scalar(
        select(func.count(Attendee.id)).where(Attendee.status == "confirmed")
    )
    held = held_places(edition)
    assert quota.taken == confirmed + held, (quota.taken, confirmed, held)
    assert quota.taken <= quota.capacity
    # Nobody is left waiting beside free places their group would fit in.
    free = quota.capacity - quota.taken
    waiting = db.session.scalars(
        select(WaitingListEntry.quantity).where(WaitingListEntry.status == WaitingStatus.WAITING)
    ).all()
    assert all(quantity > free for quantity in waiting), (free, waiting)

    offers = Counter(
        db.session.scalars(
            select(OutboxMessage.to_address).where(OutboxMessage.kind == "waiting_list_offer")
        )
    )
    assert all(n == 1 for n in offers.values()), offers
    expired_mails = Counter(
        db.session.scalars(
            select(OutboxMessage.to_address).where(OutboxMessage.kind == "waiting_list_expired")
        )
    )
    for entry in db.session.scalars(select(WaitingListEntry)):
        was_offered = offers[entry.booker_email]
        if entry.status in (WaitingStatus.OFFERED, WaitingStatus.ACCEPTED, WaitingStatus.EXPIRED):
            assert was_offered == 1, (entry.booker_email, entry.status)
        if entry.status == WaitingStatus.WAITING:
            assert was_offered == 0, entry.booker_email
        assert expired_mails[entry.booker_email] == (entry.status == WaitingStatus.EXPIRED)
        if entry.status == WaitingStatus.ACCEPTED:
            order = db.session.get(Order, entry.order_id)
            assert len(order.active_attendees) == entry.quantity
        else:
            assert entry.order_id is None


def _assert_only_domain_outcomes(outcomes) -> None:
    unexpected = [o.trace for o in outcomes if o.error is not None]
    assert not unexpected, "\n".join(unexpected)


def _walk_in(edition_id: int, count: int, who: str):
    def action():
        edition = _edition(edition_id)
        return place_order(edition, _details(edition, count, who)).order.id

    return _refusable(action)


def _joiner(edition_id: int, count: int, who: str):
    def action():
        edition = _edition(edition_id)
        return join_waiting_list(edition, _details(edition, count, who)).entry.id

    return _refusable(action)


def test_offers_race_capacity_changes_orders_acceptances_and_departures(app, race_app, edition):
    edition_id, quota_id, entries = _set_up(edition, capacity=10)
    raisers = [
        _refusable(lambda n=n: change_capacity(quota_id, n, actor=ORGANISER).capacity)
        for n in (14, 17, 20)
    ]
    offer_runs = [
        _refusable(lambda: len(offer_free_places(_edition(edition_id)))) for _ in range(4)
    ]
    walk_ins = [_walk_in(edition_id, 1 + i % 2, f"walkin{i}") for i in range(4)]
    joiners = [_joiner(edition_id, 1 + i % 2, f"late{i}") for i in range(3)]
    acceptors = [_acceptor(address) for _, address, _ in entries]
    leavers = [
        _refusable(lambda t=token: leave_waiting_list(t).status) for _, _, token in entries[1:6:3]
    ]
    expiry = [_refusable(lambda: expire_all_offers(now=utcnow() + timedelta(hours=49)))]
    jobs = raisers + offer_runs + walk_ins + joiners + acceptors + leavers + expiry

    outcomes = run_together(race_app, jobs)

    _assert_only_domain_outcomes(outcomes)
    _check_books_balance(edition_id, quota_id)
    results = iter(o.value for o in outcomes)
    by_group = {
        name: [next(results) for _ in group]
        for name, group in [
            ("raisers", raisers),
            ("offer_runs", offer_runs),
            ("walk_ins", walk_ins),
            ("joiners", joiners),
            ("acceptors", acceptors),
            ("leavers", leavers),
            ("expiry", expiry),
        ]
    }
    booked = [v for v in by_group["walk_ins"] if v[0] == "done"]
    accepted = [v for v in by_group["acceptors"] if v[0] == "accepted"]
    assert db.session.scalar(select(func.count(Order.id))) == 1 + len(booked) + len(accepted)
    accepted_entries = db.session.scalar(
        select(func.count(WaitingListEntry.id)).where(
            WaitingListEntry.status == WaitingStatus.ACCEPTED
        )
    )
    assert accepted_entries == len(accepted)
    # The capacity ends at one of the values asked for, whichever committed last.
    assert db.session.get(Quota, quota_id).capacity in (14, 17, 20)


@pytest.mark.parametrize("round_number", range(8))
def test_capacity_changes_race_offer_runs_without_deadlock(app, race_app, edition, round_number):
    """Places freed by a cancellation, then capacity raises racing offer runs.

    The offer runs find a waiting group that fits at once and claim for it
    while a capacity change holds the quota row and wants the same entries:
    the lock-order case that deadlocked before every path locked the quota first.
    """
    quota = edition.quotas[0]
    quota.capacity = 12
    db.session.commit()
    place_order(edition, _details(edition, 10, "early"))
    cancelled = place_order(edition, _details(edition, 2, "cancelled")).order
    db.session.commit()
    tokens = []
    for index, size in enumerate([1, 3, 1, 4, 2, 1, 3]):
        tokens.append(join_waiting_list(edition, _details(edition, size, f"wait{index}")).token)
        db.session.commit()
    # An organiser cancels an order of 2 (as the later cancellation service will):
    # 2 places are free, and the waiting list has not been offered them yet.
    cancelled.status = "cancelled"
    for attendee in cancelled.attendees:
        attendee.status = "cancelled"
    release_places(quota.id, 2)
    db.session.commit()
    edition_id, quota_id = edition.id, quota.id
    db.session.close()

    jobs = [
        _refusable(lambda: change_capacity(quota_id, 16, actor=ORGANISER).capacity),
        _refusable(lambda: change_capacity(quota_id, 15, actor=ORGANISER).capacity),
        *[_refusable(lambda: len(offer_free_places(_edition(edition_id)))) for _ in range(3)],
        _refusable(lambda: expire_all_offers(now=utcnow() + timedelta(hours=49))),
        _walk_in(edition_id, 1, "walkin"),
        # Singles leaving (or declining) just as the offer runs reach them.
        *[_refusable(lambda t=tokens[i]: leave_waiting_list(t).status) for i in (0, 2)],
    ]
    outcomes = run_together(race_app, jobs)

    _assert_only_domain_outcomes(outcomes)
    _check_books_balance(edition_id, quota_id)
