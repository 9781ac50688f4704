"""Two organisers (or one double click) cancel the same place at once, on PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import select

from conference.core.db import db
from conference.core.errors import DomainError
from conference.events.models import Quota
from conference.invoicing.models import Invoice
from conference.registration.models import Attendee
from conference.registration.services import cancel_attendee, place_order
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only


def test_a_place_cancelled_twice_at_once_is_cancelled_and_credited_once(app, race_app, edition):
    placed = place_order(edition, booking_details(edition, 3))
    db.session.commit()
    attendee_id = placed.order.attendees[0].id
    quota_id = edition.quotas[0].id
    db.session.close()
    # Both requests have read the place as confirmed before either takes a lock,
    # as two clicks on "cancel this place" do.
    loaded = threading.Barrier(2)

    def cancel():
        attendee = db.session.get(Attendee, attendee_id)
        assert attendee.order.status == "confirmed"
        loaded.wait(timeout=30)
        return cancel_attendee(attendee, actor="organiser:test", reason="Dobbeltklik")

    outcomes = run_together(race_app, [cancel, cancel])

    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == 1, [o.trace for o in outcomes]
    assert isinstance(errors[0], DomainError)
    assert db.session.scalar(select(Quota.taken).where(Quota.id == quota_id)) == 2
    notes = db.session.scalars(select(Invoice).where(Invoice.kind == "credit_note")).all()
    assert len(notes) == 1 and notes[0].lines[0]["quantity"] == 1
