"""The waiting list: whole groups wait, free places are offered in turn and held."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from conference.core.db import db, utcnow
from conference.core.errors import DomainError, NotEnoughPlaces
from conference.events.models import Quota
from conference.events.services import change_capacity, places_left
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order, WaitingListEntry, WaitingStatus
from conference.registration.services import (
    accept_offer,
    expire_offers,
    held_places,
    join_waiting_list,
    leave_waiting_list,
    offer_free_places,
    place_order,
    waiting_position,
)
from tests.conftest import booking_details

ORGANISER = "organiser@example.dk"


def _details(edition, count: int, who: str):
    """A booking from ``who`` (distinct booker and attendee addresses per group)."""
    details = booking_details(edition, count, booker_email=f"{who}@kommune.dk", booker_name=who)
    for index, attendee in enumerate(details.attendees):
        attendee.name = f"{who} kollega {index + 1}"
        attendee.email = f"{who}.{index + 1}@kommune.dk"
    return details


def _fill(edition) -> None:
    """Book every free place with one order."""
    left = places_left(edition.quotas[0].id)
    place_order(edition, _details(edition, left, "first"))
    db.session.commit()


def _join(edition, count: int, who: str):
    joined = join_waiting_list(edition, _details(edition, count, who))
    db.session.commit()
    return joined


def _quota(edition) -> Quota:
    return db.session.execute(
        select(Quota)
        .where(Quota.id == edition.quotas[0].id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _entry(entry_id: int) -> WaitingListEntry:
    return db.session.execute(
        select(WaitingListEntry)
        .where(WaitingListEntry.id == entry_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _mails(kind: str, to: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    if to is not None:
        query = query.where(OutboxMessage.to_address == to)
    return list(db.session.scalars(query))


def _offer_token(who: str) -> str:
    """The token in the latest offer e-mail to ``who``: what the booker clicks."""
    mails = _mails("waiting_list_offer", f"{who}@kommune.dk")
    assert mails, f"no offer e-mail to {who}"
    match = re.search(r"http://localhost/w/(\S+)", mails[-1].body_text)
    assert match, mails[-1].body_text
    return match.group(1)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- joining --------------------------------------------------------------------


def test_a_group_that_fits_must_register_directly(small_edition):
    with force_locale("en"), pytest.raises(DomainError) as raised:
        join_waiting_list(small_edition, _details(small_edition, 5, "fits"))
    db.session.rollback()
    assert "register directly" in raised.value.message
    assert _count(WaitingListEntry) == 0

    place_order(small_edition, _details(small_edition, 3, "early"))
    db.session.commit()
    # 2 left: a pair fits, a group of 3 does not and may wait.
    with pytest.raises(DomainError):
        join_waiting_list(small_edition, _details(small_edition, 2, "pair"))
    db.session.rollback()
    joined = _join(small_edition, 3, "trio")
    assert joined.entry.status == WaitingStatus.WAITING
    assert joined.entry.quantity == 3
    assert waiting_position(joined.entry) == 1
    assert [m.to_address for m in _mails("waiting_list_joined")] == ["trio@kommune.dk"]


def test_positions_count_up_and_move_up_when_someone_leaves(small_edition):
    _fill(small_edition)
    a, b, c = (_join(small_edition, n, who) for n, who in [(2, "a"), (1, "b"), (4, "c")])
    assert [waiting_position(_entry(j.entry.id)) for j in (a, b, c)] == [1, 2, 3]
    assert "1" in _mails("waiting_list_joined", "a@kommune.dk")[0].body_text

    leave_waiting_list(a.token)
    db.session.commit()
    assert _entry(a.entry.id).status == WaitingStatus.WITHDRAWN
    assert waiting_position(_entry(a.entry.id)) == 0
    assert [waiting_position(_entry(j.entry.id)) for j in (b, c)] == [1, 2]

    with pytest.raises(DomainError):
        leave_waiting_list(a.token)  # leaving twice
    db.session.rollback()
    # Leaving frees nothing that was not held.
    assert _quota(small_edition).taken == 5


# --- offers -----------------------------------------------------------------------


def test_raising_capacity_offers_to_the_first_entries_that_fit_and_holds_them(small_edition):
    _fill(small_edition)
    trio = _join(small_edition, 3, "trio")
    solo = _join(small_edition, 1, "solo")
    other = _join(small_edition, 1, "other")
    last = _join(small_edition, 1, "last")

    change_capacity(small_edition.quotas[0].id, 7, actor=ORGANISER)
    db.session.commit()

    # 2 places freed: the trio waiting first does not fit, the next two singles do.
    assert _entry(trio.entry.id).status == WaitingStatus.WAITING
    assert _entry(solo.entry.id).status == WaitingStatus.OFFERED
    assert _entry(other.entry.id).status == WaitingStatus.OFFERED
    assert _entry(last.entry.id).status == WaitingStatus.WAITING
    assert waiting_position(_entry(trio.entry.id)) == 1
    assert waiting_position(_entry(last.entry.id)) == 2

    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (7, 7)  # taken includes the held places
    assert held_places(small_edition) == 2
    assert places_left(quota.id) == 0
    offered = [m.to_address for m in _mails("waiting_list_offer")]
    assert sorted(offered) == ["other@kommune.dk", "solo@kommune.dk"]

    entry = _entry(solo.entry.id)
    assert entry.offered_at is not None
    assert entry.offer_expires_at - entry.offered_at == timedelta(hours=48)

    # The held places are not for sale to anyone else.
    with pytest.raises(NotEnoughPlaces):
        place_order(small_edition, _details(small_edition, 1, "walkin"))
    db.session.rollback()


def test_a_group_is_offered_only_when_all_of_it_fits(small_edition):
    _fill(small_edition)
    trio = _join(small_edition, 3, "trio")
    change_capacity(small_edition.quotas[0].id, 7, actor=ORGANISER)
    db.session.commit()
    assert _entry(trio.entry.id).status == WaitingStatus.WAITING
    assert held_places(small_edition) == 0
    assert _quota(small_edition).taken == 5
    change_capacity(small_edition.quotas[0].id, 8, actor=ORGANISER)
    db.session.commit()
    assert _entry(trio.entry.id).status == WaitingStatus.OFFERED
    assert held_places(small_edition) == 3
    assert _quota(small_edition).taken == 8


def test_accepting_an_offer_writes_the_groups_order_without_taking_places_twice(small_edition):
    _fill(small_edition)
    pair = _join(small_edition, 2, "pair")
    change_capacity(small_edition.quotas[0].id, 7, actor=ORGANISER)
    db.session.commit()
    assert _quota(small_edition).taken == 7
    token = _offer_token("pair")

    placed = accept_offer(token)
    db.session.commit()

    order = db.session.get(Order, placed.order.id)
    assert order.booker_email == "pair@kommune.dk"
    assert sorted(a.email for a in order.attendees) == ["pair.1@kommune.dk", "pair.2@kommune.dk"]
    assert all(a.status == "confirmed" for a in order.attendees)
    entry = _entry(pair.entry.id)
    assert entry.status == WaitingStatus.ACCEPTED
    assert entry.order_id == order.id
    # The held places became the order's places: nothing claimed a second time.
    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (7, 7)
    assert held_places(small_edition) == 0
    assert _count(Attendee) == 7
    assert [m.to_address for m in _mails("order_confirmation", "pair@kommune.dk")] == [
        "pair@kommune.dk"
    ]
    tickets = sorted(m.to_address for m in _mails("ticket") if m.order_id == order.id)
    assert tickets == ["pair.1@kommune.dk", "pair.2@kommune.dk"]

    with force_locale("en"), pytest.raises(DomainError) as raised:
        accept_offer(token)
    db.session.rollback()
    assert "already accepted" in raised.value.message
    assert _count(Order) == 2
    assert _quota(small_edition).taken == 7


def test_an_offer_link_from_the_manage_link_cannot_accept(small_edition):
    _fill(small_edition)
    solo = _join(small_edition, 1, "solo")
    change_capacity(small_edition.quotas[0].id, 6, actor=ORGANISER)
    db.session.commit()
    with pytest.raises(DomainError):
        accept_offer(solo.token)  # the manage link, not the offer link
    with pytest.raises(DomainError):
        accept_offer("not-a-token")
    db.session.rollback()
    assert _count(Order) == 1


def test_an_expired_offer_releases_its_places_and_moves_on(small_edition):
    _fill(small_edition)
    first = _join(small_edition, 2, "first-in-line")
    second = _join(small_edition, 2, "second-in-line")
    change_capacity(small_edition.quotas[0].id, 7, actor=ORGANISER)
    db.session.commit()
    token = _offer_token("first-in-line")
    expires_at = _entry(first.entry.id).offer_expires_at

    # Just before the deadline nothing happens.
    assert expire_offers(small_edition, now=expires_at - timedelta(seconds=1)) == 0
    assert _entry(first.entry.id).status == WaitingStatus.OFFERED

    assert expire_offers(small_edition, now=expires_at) == 1
    db.session.commit()

    assert _entry(first.entry.id).status == WaitingStatus.EXPIRED
    assert [m.to_address for m in _mails("waiting_list_expired")] == ["first-in-line@kommune.dk"]
    assert _entry(second.entry.id).status == WaitingStatus.OFFERED
    assert _mails("waiting_list_offer", "second-in-line@kommune.dk")
    quota = _quota(small_edition)
    assert (quota.capacity, quota.taken) == (7, 7)
    assert held_places(small_edition) == 2

    # The first booker's link now says it expired, and takes nothing.
    with force_locale("en"), pytest.raises(DomainError) as raised:
        accept_offer(token, now=expires_at + timedelta(minutes=1))
    db.session.rollback()
    assert "expired" in raised.value.message
    assert _count(Order) == 1


def test_accepting_after_the_deadline_is_refused(small_edition):
    _fill(small_edition)
    late = _join(small_edition, 1, "late")
    change_capacity(small_edition.quotas[0].id, 6, actor=ORGANISER)
    db.session.commit()
    expires_at = _entry(late.entry.id).offer_expires_at
    with force_locale("en"), pytest.raises(DomainError) as raised:
        accept_offer(_offer_token("late"), now=expires_at + timedelta(seconds=1))
    assert "expired" in raised.value.message
    db.session.rollback()
    assert _count(Order) == 1
    # In time it still works.
    accept_offer(_offer_token("late"), now=expires_at - timedelta(seconds=1))
    db.session.commit()
    assert _count(Order) == 2
    assert _quota(small_edition).taken == 6


def test_leaving_while_offered_releases_and_offers_the_next(small_edition):
    _fill(small_edition)
    first = _join(small_edition, 1, "declines")
    second = _join(small_edition, 1, "next")
    change_capacity(small_edition.quotas[0].id, 6, actor=ORGANISER)
    db.session.commit()
    assert _entry(first.entry.id).status == WaitingStatus.OFFERED
    token = _offer_token("declines")

    leave_waiting_list(token)
    db.session.commit()

    assert _entry(first.entry.id).status == WaitingStatus.WITHDRAWN
    assert _entry(second.entry.id).status == WaitingStatus.OFFERED
    assert _quota(small_edition).taken == 6
    assert held_places(small_edition) == 1
    with pytest.raises(DomainError):
        accept_offer(token)
    db.session.rollback()
    accept_offer(_offer_token("next"))
    db.session.commit()
    assert _count(Order) == 2


def test_offer_free_places_offers_each_entry_once(small_edition):
    _fill(small_edition)
    _join(small_edition, 1, "solo")
    change_capacity(small_edition.quotas[0].id, 7, actor=ORGANISER)
    db.session.commit()
    # Running it again (the worker, another organiser) offers nothing new.
    assert offer_free_places(small_edition) == []
    db.session.commit()
    assert len(_mails("waiting_list_offer")) == 1
    assert _quota(small_edition).taken == 6
    assert places_left(small_edition.quotas[0].id) == 1


def test_lowering_capacity_keeps_open_offers(small_edition):
    _fill(small_edition)
    _join(small_edition, 2, "pair")
    change_capacity(small_edition.quotas[0].id, 7, actor=ORGANISER)
    db.session.commit()
    # Held places count as taken: capacity cannot drop below them.
    with pytest.raises(DomainError):
        change_capacity(small_edition.quotas[0].id, 6, actor=ORGANISER)
    db.session.rollback()
    assert held_places(small_edition) == 2


def test_expire_offers_command(app, small_edition):
    _fill(small_edition)
    first = _join(small_edition, 1, "sleepy")
    second = _join(small_edition, 1, "awake")
    change_capacity(small_edition.quotas[0].id, 6, actor=ORGANISER)
    db.session.commit()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["registration", "expire-offers"])
    assert result.exit_code == 0, result.output
    assert "Expired 0" in result.output
    assert _entry(first.entry.id).status == WaitingStatus.OFFERED

    # Two days later the offer has run out.
    entry = _entry(first.entry.id)
    entry.offer_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    result = runner.invoke(args=["registration", "expire-offers"])
    assert result.exit_code == 0, result.output
    assert "Expired 1" in result.output

    db.session.rollback()
    assert _entry(first.entry.id).status == WaitingStatus.EXPIRED
    assert _entry(second.entry.id).status == WaitingStatus.OFFERED
    assert _mails("waiting_list_expired", "sleepy@kommune.dk")
    assert _mails("waiting_list_offer", "awake@kommune.dk")
    assert _quota(small_edition).taken == 6
