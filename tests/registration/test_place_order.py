"""The place_order service: binding orders claimed first come, first served."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conference.core.db import db
from conference.core.errors import NotEnoughPlaces
from conference.events.models import Quota
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order
from conference.registration.services import InvalidBooking, place_order
from tests.conftest import booking_details


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_group_order_takes_places_and_queues_mails(edition):
    placed = place_order(edition, booking_details(edition, 3))
    db.session.commit()
    assert db.session.get(Quota, edition.quotas[0].id).taken == 3
    assert _count(Attendee) == 3
    # 2.575,00 kr. each: net 7.725,00, VAT 1.931,25, total 9.656,25
    assert placed.order.total_net_ore == 772_500
    assert placed.order.total_vat_ore == 193_125
    assert placed.order.total_gross_ore == 965_625
    kinds = sorted(m.kind for m in db.session.scalars(select(OutboxMessage)))
    assert kinds == ["order_confirmation", "ticket", "ticket", "ticket"]


def test_group_larger_than_what_is_left_takes_nothing(small_edition):
    place_order(small_edition, booking_details(small_edition, 3))
    db.session.commit()
    with pytest.raises(NotEnoughPlaces) as raised:
        place_order(small_edition, booking_details(small_edition, 3))
    db.session.rollback()
    assert raised.value.places_left == 2
    assert "2" in raised.value.message
    assert db.session.get(Quota, small_edition.quotas[0].id).taken == 3
    assert _count(Order) == 1


def test_claim_lost_after_the_early_read_leaves_nothing_behind(small_edition):
    """The order, its audit record and its e-mails are written before the claim;
    when a faster booker took the places meanwhile they are taken back, even if
    the caller went on to commit."""
    from conference.core.models import AuditEvent

    place_order(small_edition, booking_details(small_edition, 5))
    db.session.commit()
    before = (_count(Order), _count(Attendee), _count(OutboxMessage), _count(AuditEvent))
    with pytest.raises(NotEnoughPlaces) as raised:
        # As if the caller had seen free places a moment ago: the claim decides.
        place_order(small_edition, booking_details(small_edition, 1), free_seen=5)
    db.session.commit()
    assert raised.value.places_left == 0
    after = (_count(Order), _count(Attendee), _count(OutboxMessage), _count(AuditEvent))
    assert after == before
    assert db.session.get(Quota, small_edition.quotas[0].id).taken == 5


def test_invalid_ean_is_refused_and_nothing_written(edition):
    with pytest.raises(InvalidBooking) as raised:
        place_order(edition, booking_details(edition, 1, ean="5798000000002"))
    db.session.rollback()
    assert "ean" in raised.value.errors
    assert _count(Order) == 0
    assert db.session.get(Quota, edition.quotas[0].id).taken == 0
