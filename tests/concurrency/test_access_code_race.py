"""Bookers racing for an access code's last uses on PostgreSQL: the uses are taken by
one conditional write in the order's transaction, so no code is used past its limit,
and an order that loses its places gives the code's use back."""

from __future__ import annotations

from sqlalchemy import func, select

from conference.core.db import db
from conference.core.errors import NotEnoughPlaces
from conference.events.models import AccessCode, Edition, Quota
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order
from conference.registration.services import InvalidBooking, place_order
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only

BOOKERS = 8


def _booker(edition_id: int, ticket_type_id: int, who: str, count: int = 1):
    def job():
        edition = db.session.get(Edition, edition_id)
        details = booking_details(
            edition,
            count,
            booker_email=f"{who}@kommune.dk",
            ticket_type_id=ticket_type_id,
            access_code="PARTNER",
        )
        for index, attendee in enumerate(details.attendees):
            attendee.email = f"{who}.{index}@kommune.dk"
        try:
            placed = place_order(edition, details)
        except InvalidBooking as refusal:
            db.session.rollback()
            return ("refused", refusal.errors)
        except NotEnoughPlaces as refusal:
            db.session.rollback()
            return ("full", refusal.message)
        return ("order", placed.order.id)

    return job


def _partner_code(edition, max_uses: int) -> tuple[int, int]:
    participant = edition.ticket_types[0]
    code = AccessCode(
        edition_id=edition.id,
        ticket_type_id=participant.id,
        code="PARTNER",
        price_net_ore=150_000,
        max_uses=max_uses,
    )
    db.session.add(code)
    db.session.commit()
    return code.id, participant.id


def test_eight_bookers_race_for_the_last_use_of_a_code(app, race_app, edition):
    code_id, type_id = _partner_code(edition, max_uses=3)
    db.session.execute(AccessCode.__table__.update().where(AccessCode.id == code_id).values(used=2))
    db.session.commit()
    edition_id, quota_id = edition.id, edition.quotas[0].id
    db.session.close()

    outcomes = run_together(
        race_app, [_booker(edition_id, type_id, f"partner{i}") for i in range(BOOKERS)]
    )

    unexpected = [o.trace for o in outcomes if o.error is not None]
    assert not unexpected, "\n".join(unexpected)
    orders = [o.value for o in outcomes if o.value[0] == "order"]
    refusals = [o.value for o in outcomes if o.value[0] == "refused"]
    assert len(orders) == 1 and len(refusals) == BOOKERS - 1
    for _, errors in refusals:
        assert errors == {"access_code": "Denne adgangskode er brugt op."}
    code = db.session.get(AccessCode, code_id)
    assert code.used == 3
    # Nothing of the losers was written.
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert db.session.scalar(select(func.count(Attendee.id))) == 1
    assert db.session.get(Quota, quota_id).taken == 1
    assert db.session.get(Order, orders[0][1]).attendees[0].unit_price_net_ore == 150_000
    assert {m.order_id for m in db.session.scalars(select(OutboxMessage))} == {orders[0][1]}


def test_a_booker_who_loses_the_last_place_gives_the_code_use_back(app, race_app, edition):
    code_id, type_id = _partner_code(edition, max_uses=50)
    edition.quotas[0].capacity = 1
    db.session.commit()
    edition_id = edition.id
    db.session.close()

    outcomes = run_together(
        race_app, [_booker(edition_id, type_id, f"partner{i}") for i in range(BOOKERS)]
    )

    unexpected = [o.trace for o in outcomes if o.error is not None]
    assert not unexpected, "\n".join(unexpected)
    orders = [o.value for o in outcomes if o.value[0] == "order"]
    assert len(orders) == 1
    assert all(o.value[0] in ("order", "full") for o in outcomes)
    # Only the winner's place is counted against the code.
    assert db.session.get(AccessCode, code_id).used == 1
    assert db.session.scalar(select(func.count(Attendee.id))) == 1
