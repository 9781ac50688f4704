"""Twenty companies race for five stands on PostgreSQL, with real threads.

Four companies want each stand; all twenty are released at once by a barrier.
Exactly one per stand gets it (booked, invoiced, mailed); the other fifteen get
StandTaken and leave nothing behind: no booking, no invoice, no e-mail, no gap
in the invoice numbers.
"""

from __future__ import annotations

from sqlalchemy import func, select

from conference.core.db import db
from conference.events.models import Edition
from conference.invoicing.models import Invoice
from conference.mail.models import OutboxMessage
from conference.stands import services
from conference.stands.models import Stand, StandBooking, StandStatus
from conference.stands.services import StandTaken
from tests.concurrency.conftest import race_app, run_together  # noqa: F401 - the fixture
from tests.conftest import postgres_only
from tests.stands.conftest import company_details


@postgres_only
def test_twenty_companies_for_five_stands(app, edition, hall, race_app):  # noqa: F811
    edition_id = edition.id
    codes = [f"A{n}" for n in range(1, 6)]
    db.session.commit()
    db.session.remove()

    def job(number: int):
        def book():
            racing_edition = db.session.get(Edition, edition_id)
            wanted = services.get_stand(racing_edition, codes[number % 5])
            booked = services.book_stand(racing_edition, wanted, company_details(number))
            return booked.booking.company, wanted.code

        return book

    outcomes = run_together(race_app, [job(n) for n in range(20)])

    unexpected = [o.trace for o in outcomes if o.error and not isinstance(o.error, StandTaken)]
    assert not unexpected, "\n".join(unexpected)
    winners = [o.value for o in outcomes if o.error is None]
    refused = [o.error for o in outcomes if isinstance(o.error, StandTaken)]
    assert len(winners) == 5 and len(refused) == 15
    # Each refusal says plainly that the stand was just taken.
    assert all("blev netop taget" in error.message for error in refused)
    assert sorted(code for _company, code in winners) == codes

    bookings = db.session.scalars(select(StandBooking)).all()
    assert len(bookings) == 5
    stands = db.session.scalars(select(Stand).where(Stand.edition_id == edition_id)).all()
    assert all(s.status == StandStatus.BOOKED for s in stands)
    # No stand with two bookings, and each stand points at the booking that points at it.
    assert len({b.stand_id for b in bookings}) == 5
    for stand in stands:
        assert stand.booking.stand_id == stand.id
        assert (stand.booking.company, stand.code) in winners

    invoices = db.session.scalars(select(Invoice).order_by(Invoice.sequence)).all()
    assert len(invoices) == 5
    assert [i.sequence for i in invoices] == [1, 2, 3, 4, 5]  # gap-free
    assert {i.stand_booking_id for i in invoices} == {b.id for b in bookings}
    mails = db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == "stand_confirmation")
    )
    assert mails == 5
