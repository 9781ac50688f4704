"""50 bookers racing for 20 places on PostgreSQL: exactly 20 taken, every loser told so."""

from __future__ import annotations

import random

from sqlalchemy import func, select

from conference.core.db import db
from conference.core.errors import NotEnoughPlaces
from conference.events.models import Edition, Quota
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order
from conference.registration.services import place_order
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only

SEATS = 20
BOOKERS = 50


def _details(edition, count: int, who: str):
    details = booking_details(edition, count, booker_email=f"{who}@kommune.dk")
    for index, attendee in enumerate(details.attendees):
        attendee.email = f"{who}.{index + 1}@kommune.dk"
    return details


def _booker(edition_id: int, count: int, who: str):
    def job():
        edition = db.session.get(Edition, edition_id)
        try:
            placed = place_order(edition, _details(edition, count, who))
        except NotEnoughPlaces as refusal:
            db.session.rollback()
            return ("refused", count, refusal.places_left, refusal.message)
        return ("order", count, placed.order.id, placed.order.reference)

    return job


def test_fifty_bookers_race_for_twenty_places(app, race_app, edition):
    edition.quotas[0].capacity = SEATS
    db.session.commit()
    edition_id, quota_id = edition.id, edition.quotas[0].id
    db.session.close()
    # At least SEATS singles: a single is refused only when nothing is left, so
    # whatever order the commits come in, the rush ends with every place taken.
    sizes = [1] * 22 + [2, 3, 4] * 9 + [2]
    random.Random(20260406).shuffle(sizes)
    assert len(sizes) == BOOKERS
    assert sum(sizes) > 2 * SEATS  # far more asked for than there is

    outcomes = run_together(
        race_app, [_booker(edition_id, n, f"booker{i}") for i, n in enumerate(sizes)]
    )

    unexpected = [o.trace for o in outcomes if o.error is not None]
    assert not unexpected, "\n".join(unexpected)
    orders = [o.value for o in outcomes if o.value[0] == "order"]
    refusals = [o.value for o in outcomes if o.value[0] == "refused"]
    assert len(orders) + len(refusals) == BOOKERS
    assert refusals, "with 20 places for ~100 people somebody must be turned away"
    for _, asked, left, message in refusals:
        # Told truthfully: the group did not fit in what was left when it asked.
        assert 0 <= left < asked
        assert message

    quota = db.session.get(Quota, quota_id)
    confirmed = db.session.scalar(
        select(func.count(Attendee.id)).where(Attendee.status == "confirmed")
    )
    assert quota.taken == SEATS
    assert confirmed == SEATS
    assert sum(asked for _, asked, _, _ in orders) == SEATS
    # No partial groups: each order has exactly the colleagues it asked for.
    for _, asked, order_id, _ in orders:
        assert len(db.session.get(Order, order_id).attendees) == asked
    assert db.session.scalar(select(func.count(Order.id))) == len(orders)
    kinds = dict(
        db.session.execute(
            select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)
        ).all()
    )
    assert kinds == {"order_confirmation": len(orders), "ticket": SEATS}
