"""The demo edition of ``make run`` comes with an exhibition: a hall, packages, bookings."""

from __future__ import annotations

from sqlalchemy import func, select

from conference.core.db import db
from conference.events.commands import DEMO_REGISTRATIONS, DEMO_STANDS, load_demo
from conference.events.models import Edition
from conference.invoicing.ubl import invoice_ubl
from conference.stands.models import ExhibitorPass, Stand, StandBooking, StandHall, StandPackage
from tests.invoicing.peppol import assert_valid_peppol


def test_demo_load_creates_the_exhibition_once(app):
    runner = app.test_cli_runner()
    result = runner.invoke(load_demo, ["--year", "2031"])
    assert result.exit_code == 0, result.output
    assert "20 stands (4 booked)" in result.output
    edition = db.session.scalar(select(Edition))
    hall = db.session.scalar(select(StandHall).where(StandHall.edition_id == edition.id))
    assert hall.booking_mode == "binding" and hall.terms and hall.terms_en
    # The staff deadline is a week before the event.
    assert 6 <= (edition.starts_at - hall.staff_deadline).days <= 7
    stands = db.session.scalars(select(Stand).where(Stand.edition_id == edition.id)).all()
    assert len(stands) == len(DEMO_STANDS) == 20
    assert {s.area_m2 for s in stands} == {9, 12, 18}
    # Stands lie inside the hall and never overlap.
    for stand in stands:
        assert stand.x_cm + stand.width_cm <= hall.width_cm
        assert stand.y_cm + stand.depth_cm <= hall.depth_cm
    for a in stands:
        for b in stands:
            if a.id < b.id:
                assert (
                    a.x_cm + a.width_cm <= b.x_cm
                    or b.x_cm + b.width_cm <= a.x_cm
                    or a.y_cm + a.depth_cm <= b.y_cm
                    or b.y_cm + b.depth_cm <= a.y_cm
                ), (a.code, b.code)
    packages = {p.name: p.included_passes for p in db.session.scalars(select(StandPackage))}
    assert packages == {"Standard": 2, "Hjørnestand": 3, "Stor stand": 4}

    bookings = db.session.scalars(select(StandBooking)).all()
    assert len(bookings) == 4 and {b.status for b in bookings} == {"confirmed"}
    assert sorted(s.code for s in stands if s.status == "booked") == ["A1", "B3", "C2", "D2"]
    assert db.session.scalar(select(func.count(ExhibitorPass.id))) == 9
    # Exhibitors take no attendee places: only the demo registrations do.
    assert edition.quotas[0].taken == sum(len(r["attendees"]) for r in DEMO_REGISTRATIONS)
    from conference.invoicing.services import stand_booking_invoices

    for booking in bookings:
        (invoice,) = stand_booking_invoices(booking)
        assert invoice.buyer_name == booking.company
        assert_valid_peppol(invoice_ubl(invoice), invoice.number)

    again = runner.invoke(load_demo, ["--year", "2031"])
    assert again.exit_code == 0 and "already exists" in again.output
    assert db.session.scalar(select(func.count(Stand.id))) == 20
