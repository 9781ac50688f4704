"""A booking that lands after the organiser changed the stand books the stand as it is now.

The organiser's change (size, package) commits between the booker's read of the
stand and the booker's conditional write: the booking, its invoice and the plan
must all describe the stand the company actually holds.
"""

from __future__ import annotations

from sqlalchemy import select, update

from conference.core.db import db
from conference.invoicing.models import Invoice
from conference.stands import services
from conference.stands.models import Stand, StandPackage
from tests.stands.conftest import company_details, stand


def test_a_package_and_size_changed_meanwhile_are_what_the_booking_holds(edition, hall):
    a1 = stand(edition, "A1")
    assert a1.package.name == "Standardpakke"
    corner = db.session.scalar(select(StandPackage).where(StandPackage.name == "Hjørnepakke"))
    # The organiser's edit commits while the booker's request holds its stale copy.
    db.session.execute(
        update(Stand)
        .where(Stand.id == a1.id)
        .values(package_id=corner.id, width_cm=400)
        .execution_options(synchronize_session=False)
    )

    booked = services.book_stand(edition, a1, company_details())
    db.session.commit()

    booking = booked.booking
    assert booking.package_name == "Hjørnepakke"
    assert booking.package_net_ore == 2_000_000
    assert booking.included_passes == 3
    invoice = db.session.scalar(select(Invoice).where(Invoice.stand_booking_id == booking.id))
    assert invoice.net_ore == 2_000_000
    assert "12 m²" in invoice.lines[0]["description"]
    assert "Hjørnepakke" in invoice.lines[0]["description"]
