"""Organisers move places to a ticket type with one place left, at once, on PostgreSQL:
the quota's conditional write lets exactly one through."""

from __future__ import annotations

from sqlalchemy import select

from conference.backoffice.services import TicketTypeFull, move_attendee
from conference.core.db import db
from conference.events.models import Quota, TicketType
from conference.invoicing.models import Invoice
from conference.registration.models import Attendee
from conference.registration.services import place_order
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only


def test_six_moves_racing_for_one_partner_place_move_one(app, race_app, edition):
    quota = Quota(name="Partnere", capacity=1, taken=0)
    edition.quotas.append(quota)
    partner = TicketType(name="Partner", price_net_ore=150_000, quota=quota, is_public=False)
    edition.ticket_types.append(partner)
    orders = [
        place_order(edition, booking_details(edition, 1, booker_email=f"b{i}@aarhus.dk")).order
        for i in range(6)
    ]
    db.session.commit()
    attendee_ids = [order.attendees[0].id for order in orders]
    partner_id, quota_id, main_id = partner.id, quota.id, edition.quotas[0].id
    db.session.close()

    def mover(attendee_id):
        def move():
            attendee = db.session.get(Attendee, attendee_id)
            return move_attendee(
                attendee, db.session.get(TicketType, partner_id), expected_version=1, actor="t"
            ).attendee.id

        return move

    outcomes = run_together(race_app, [mover(i) for i in attendee_ids])
    moved = [o.value for o in outcomes if o.error is None]
    refused = [o.error for o in outcomes if o.error is not None]
    assert len(moved) == 1, [o.trace for o in outcomes]
    assert len(refused) == 5 and all(isinstance(e, TicketTypeFull) for e in refused)
    assert db.session.scalar(select(Quota.taken).where(Quota.id == quota_id)) == 1
    assert db.session.scalar(select(Quota.taken).where(Quota.id == main_id)) == 5
    on_partner = db.session.scalars(
        select(Attendee.id).where(Attendee.ticket_type_id == partner_id)
    ).all()
    assert on_partner == moved
    # One credit note and one new invoice, numbered without a gap.
    kinds = db.session.scalars(select(Invoice.kind).order_by(Invoice.id)).all()
    assert kinds.count("credit_note") == 1 and kinds.count("invoice") == 7
