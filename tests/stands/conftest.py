"""A hall with five stands, two packages and three add-ons, and a company's booking form."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conference.core.db import db, utcnow
from conference.stands.models import (
    AddonKind,
    BookingMode,
    Stand,
    StandAddon,
    StandHall,
    StandPackage,
)
from conference.stands.services import StandBookingDetails

TERMS = "Standen skal være bemandet hele dagen.\nAflysning efter 1. marts refunderes ikke."


def make_hall(edition, *, mode: str = BookingMode.BINDING, stands: int = 5) -> StandHall:
    """A 40 × 25 m hall: stands A1.. in a row (3 × 3 m, Standardpakke) and one corner
    stand B1 (6 × 3 m, Hjørnepakke) when there are more than five."""
    hall = StandHall(
        edition_id=edition.id,
        name="Hal C",
        width_cm=4000,
        depth_cm=2500,
        booking_mode=mode,
        terms=TERMS,
        terms_en="The stand must be staffed all day.\nNo refunds after 1 March.",
        staff_deadline=utcnow() + timedelta(days=20),
        bookings_open=True,
    )
    standard = StandPackage(
        edition_id=edition.id,
        name="Standardpakke",
        name_en="Standard package",
        price_net_ore=1_200_000,
        included_passes=2,
        includes="Strøm 230 V\nBord og to stole",
        includes_en="Power 230 V\nA table and two chairs",
        sort_order=1,
    )
    corner = StandPackage(
        edition_id=edition.id,
        name="Hjørnepakke",
        name_en="Corner package",
        price_net_ore=2_000_000,
        included_passes=3,
        includes="Strøm 230 V\nTo borde",
        sort_order=2,
    )
    db.session.add_all([hall, standard, corner])
    db.session.flush()
    for index in range(stands):
        db.session.add(
            Stand(
                edition_id=edition.id,
                code=f"A{index + 1}",
                x_cm=200 + index * 400,
                y_cm=200,
                width_cm=300,
                depth_cm=300,
                package_id=standard.id,
            )
        )
    if stands > 5:
        db.session.add(
            Stand(
                edition_id=edition.id,
                code="B1",
                x_cm=200,
                y_cm=1200,
                width_cm=600,
                depth_cm=300,
                package_id=corner.id,
            )
        )
    db.session.add_all(
        [
            StandAddon(
                edition_id=edition.id,
                kind=AddonKind.EXTRA_PASS,
                name="Ekstra udstillerpas",
                name_en="Extra exhibitor pass",
                price_net_ore=150_000,
                max_quantity=4,
                sort_order=1,
            ),
            StandAddon(
                edition_id=edition.id,
                kind=AddonKind.POWER,
                name="Ekstra strøm 16 A",
                name_en="Extra power 16 A",
                price_net_ore=80_000,
                max_quantity=2,
                sort_order=2,
            ),
            StandAddon(
                edition_id=edition.id,
                kind=AddonKind.FURNITURE,
                name="Barstol",
                name_en="Bar stool",
                price_net_ore=25_000,
                max_quantity=6,
                sort_order=3,
            ),
        ]
    )
    db.session.commit()
    return hall


@pytest.fixture
def hall(edition) -> StandHall:
    return make_hall(edition)


@pytest.fixture
def approval_hall(edition) -> StandHall:
    return make_hall(edition, mode=BookingMode.APPROVAL)


def addon_id(edition, kind: str) -> int:
    return next(a.id for a in edition_addons(edition) if a.kind == kind)


def edition_addons(edition) -> list[StandAddon]:
    from conference.stands.services import active_addons

    return active_addons(edition)


def stand(edition, code: str) -> Stand:
    from conference.stands.services import get_stand

    return get_stand(edition, code)


def company_details(number: int = 1, **overrides) -> StandBookingDetails:
    """A Danish IT company's booking (real CVR check digits: 10150817 is valid)."""
    fields = {
        "company": f"Kommunedata {number} A/S",
        "cvr": "10150817",
        "address": "Lautrupbjerg 10",
        "postcode": "2750",
        "city": "Ballerup",
        "contact_name": f"Sara Holm {number}",
        "contact_email": f"sara{number}@kommunedata.dk",
        "contact_phone": "+45 44 68 00 00",
        "invoice_email": "faktura@kommunedata.dk",
        "terms_accepted": True,
        "language": "da",
    }
    fields.update(overrides)
    return StandBookingDetails(**fields)


def booking_form_data(**overrides) -> dict:
    """The same booking as posted by the booking form."""
    data = {
        "company": "Kommunedata 1 A/S",
        "cvr": "10150817",
        "address": "Lautrupbjerg 10",
        "postcode": "2750",
        "city": "Ballerup",
        "contact_name": "Sara Holm",
        "contact_email": "sara@kommunedata.dk",
        "contact_phone": "+45 44 68 00 00",
        "invoice_email": "faktura@kommunedata.dk",
        "terms_accepted": "y",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}
