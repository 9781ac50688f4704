"""One booker sending the waiting-list form several times at once (a double click,
a retried request) on PostgreSQL: the check runs under the quota lock, so the group
takes one place in the queue and every other attempt is told it is already there."""

from __future__ import annotations

from sqlalchemy import func, select

from conference.core.db import db
from conference.events.models import Edition
from conference.events.services import places_left
from conference.registration.models import WaitingListEntry
from conference.registration.services import AlreadyWaiting, join_waiting_list, place_order
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only

ATTEMPTS = 6


def _join(edition_id: int):
    def job():
        edition = db.session.get(Edition, edition_id)
        try:
            joined = join_waiting_list(
                edition, booking_details(edition, 2, booker_email="anne@odense.dk")
            )
        except AlreadyWaiting as refusal:
            db.session.rollback()
            return ("already", refusal.message)
        return ("joined", joined.entry.id)

    return job


def test_six_identical_joins_at_once_leave_one_entry(app, race_app, small_edition):
    edition = small_edition
    left = places_left(edition.quotas[0].id)
    place_order(edition, booking_details(edition, left, booker_email="first@kommune.dk"))
    db.session.commit()
    edition_id = edition.id
    db.session.close()

    outcomes = run_together(race_app, [_join(edition_id) for _ in range(ATTEMPTS)])

    unexpected = [o.trace for o in outcomes if o.error is not None]
    assert not unexpected, "\n".join(unexpected)
    joined = [o.value for o in outcomes if o.value[0] == "joined"]
    already = [o.value for o in outcomes if o.value[0] == "already"]
    assert len(joined) == 1 and len(already) == ATTEMPTS - 1
    assert db.session.scalar(select(func.count(WaitingListEntry.id))) == 1
