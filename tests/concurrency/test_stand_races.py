"""Stand bookings under real concurrency on PostgreSQL: what two requests at once may not do.

Each test releases its threads at once with a barrier (``run_together``) and
then checks what a user would see: never more passes than the allowance, never
more extra passes than the add-on's maximum and every one invoiced, a pass
either renamed or checked in (never both), a stand held by one booking.
"""

from __future__ import annotations

from sqlalchemy import func, select

from conference.checkin.services import ScanResult, check_in_payload, pass_payload
from conference.core.db import db
from conference.events.models import Edition
from conference.invoicing.models import Invoice
from conference.stands import services
from conference.stands.models import (
    ExhibitorPass,
    ExhibitorPassStatus,
    Stand,
    StandBooking,
    StandBookingStatus,
    StandStatus,
)
from conference.stands.services import StaffDetails, StandTaken
from tests.concurrency.conftest import race_app, run_together  # noqa: F401 - the fixture
from tests.conftest import postgres_only
from tests.stands.conftest import company_details, make_hall
from tests.stands.conftest import hall as hall  # noqa: F401 - the fixture


def _booked(edition, code: str = "A1", **details) -> StandBooking:
    booked = services.book_stand(
        edition, services.get_stand(edition, code), company_details(**details)
    )
    db.session.commit()
    return booked.booking


def _unexpected(outcomes, *allowed: type[BaseException]) -> list[str]:
    return [o.trace for o in outcomes if o.error and not isinstance(o.error, allowed)]


def _active_passes(booking_id: int) -> int:
    return db.session.scalar(
        select(func.count(ExhibitorPass.id)).where(
            ExhibitorPass.booking_id == booking_id,
            ExhibitorPass.status == ExhibitorPassStatus.ACTIVE,
        )
    )


@postgres_only
def test_six_people_named_at_once_for_the_last_pass_get_one_pass(
    app,
    edition,
    hall,  # noqa: F811
    race_app,  # noqa: F811
):
    booking = _booked(edition)
    services.name_staff(booking, StaffDetails(name="Første Person", email="p0@kommunedata.dk"))
    db.session.commit()
    booking_id, allowance = booking.id, booking.pass_allowance
    assert allowance == 2
    db.session.remove()

    def name(number: int):
        def job():
            racing = db.session.get(StandBooking, booking_id)
            return services.name_staff(
                racing, StaffDetails(name=f"Person {number}", email=f"p{number}@kommunedata.dk")
            ).id

        return job

    outcomes = run_together(race_app, [name(n) for n in range(1, 7)])

    assert not _unexpected(outcomes, services.DomainError), _unexpected(outcomes)
    assert len([o for o in outcomes if o.error is None]) == 1
    assert _active_passes(booking_id) == allowance


@postgres_only
def test_extra_passes_bought_twice_at_once_never_pass_the_maximum(
    app,
    edition,
    hall,  # noqa: F811
    race_app,  # noqa: F811
):
    # The extra-pass add-on allows 4 per booking; four requests of 3 each race.
    booking = _booked(edition)
    booking_id = booking.id
    db.session.remove()

    def buy():
        racing = db.session.get(StandBooking, booking_id)
        return services.buy_extra_passes(racing, 3).number

    outcomes = run_together(race_app, [buy] * 4)

    assert not _unexpected(outcomes, services.DomainError), _unexpected(outcomes)
    winners = [o.value for o in outcomes if o.error is None]
    assert len(winners) == 1
    booking = db.session.get(StandBooking, booking_id)
    assert booking.extra_passes == 3
    assert booking.pass_allowance == 2 + 3
    extra_invoices = db.session.scalars(
        select(Invoice).where(Invoice.stand_booking_id == booking_id).order_by(Invoice.id)
    ).all()
    assert len(extra_invoices) == 2  # the stand's and one for the three extra passes
    assert extra_invoices[1].lines[0]["quantity"] == 3


@postgres_only
def test_a_name_change_racing_a_scan_ends_in_one_of_them(
    app,
    edition,
    hall,  # noqa: F811
    race_app,  # noqa: F811
):
    booking = _booked(edition)
    exhibitor_pass = services.name_staff(
        booking, StaffDetails(name="Søren Ærø", email="soren@kommunedata.dk")
    )
    db.session.commit()
    booking_id, pass_id, edition_id = booking.id, exhibitor_pass.id, edition.id
    payload = pass_payload(exhibitor_pass)
    db.session.remove()

    def scan():
        return check_in_payload(
            db.session.get(Edition, edition_id), payload, actor="staff:door"
        ).result

    def rename():
        racing = db.session.get(StandBooking, booking_id)
        return services.change_staff(
            racing, pass_id, StaffDetails(name="Mette Holm", email="mette@kommunedata.dk")
        ).name

    outcomes = run_together(race_app, [scan, rename])

    assert not _unexpected(outcomes, services.DomainError), _unexpected(outcomes)
    scanned, renamed = outcomes
    row = db.session.get(ExhibitorPass, pass_id)
    if scanned.value is ScanResult.ADMITTED:
        # The door let the old holder in: the pass must not have changed hands.
        assert renamed.error is not None
        assert row.name == "Søren Ærø" and row.checked_in_at is not None
    else:
        assert scanned.value is ScanResult.RENAMED
        assert renamed.error is None and row.name == "Mette Holm"
        assert row.checked_in_at is None


@postgres_only
def test_a_booking_and_a_move_to_the_same_free_stand_give_it_to_one(
    app,
    edition,
    hall,  # noqa: F811
    race_app,  # noqa: F811
):
    moving = _booked(edition, code="A1", number=1)
    moving_id, edition_id = moving.id, edition.id
    db.session.remove()

    def book():
        racing_edition = db.session.get(Edition, edition_id)
        stand = services.get_stand(racing_edition, "A2")
        return services.book_stand(racing_edition, stand, company_details(2)).booking.id

    def move():
        racing = db.session.get(StandBooking, moving_id)
        stand = services.get_stand(racing.edition, "A2")
        return services.move_booking(racing, stand, actor="staff:organiser").id

    outcomes = run_together(race_app, [book, move])

    assert not _unexpected(outcomes, StandTaken), _unexpected(outcomes)
    assert len([o for o in outcomes if o.error is None]) == 1
    a2 = db.session.scalar(select(Stand).where(Stand.code == "A2"))
    holder = db.session.get(StandBooking, a2.booking_id)
    assert holder.stand_id == a2.id and a2.status == StandStatus.BOOKED
    a1 = db.session.scalar(select(Stand).where(Stand.code == "A1"))
    if outcomes[1].error is None:
        assert a1.status == StandStatus.FREE and a1.booking_id is None
    else:
        assert a1.booking_id == moving_id


@postgres_only
def test_an_approval_and_a_cancellation_at_once_end_in_one(
    app,
    edition,
    race_app,  # noqa: F811
):
    from conference.stands.models import BookingMode

    make_hall(edition, mode=BookingMode.APPROVAL)
    request = _booked(edition)
    request_id = request.id
    db.session.remove()

    def approve():
        racing = db.session.get(StandBooking, request_id)
        return services.approve_booking(racing, actor="staff:one").booking.status

    def cancel():
        racing = db.session.get(StandBooking, request_id)
        return services.cancel_booking(racing, actor="staff:two").booking.status

    outcomes = run_together(race_app, [approve, cancel])

    assert not _unexpected(outcomes, services.DomainError), _unexpected(outcomes)
    booking = db.session.get(StandBooking, request_id)
    stand = db.session.get(Stand, booking.stand_id)
    invoices = db.session.scalars(
        select(Invoice).where(Invoice.stand_booking_id == request_id)
    ).all()
    if booking.status == StandBookingStatus.CANCELLED:
        # Approved first and cancelled after, or cancelled before the approval.
        assert stand.status == StandStatus.FREE and stand.booking_id is None
        total = sum(-i.total_ore if i.is_credit_note else i.total_ore for i in invoices)
        assert total == 0
    else:
        assert booking.status == StandBookingStatus.CONFIRMED
        assert stand.status == StandStatus.BOOKED and stand.booking_id == request_id
        assert len(invoices) == 1
