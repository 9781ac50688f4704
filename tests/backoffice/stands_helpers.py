"""A small hall for the back-office stand tests: two packages, add-ons, four stands,
and bookings inserted as rows (what the stand service would have written)."""

from __future__ import annotations

import secrets

from conference.core.db import db, utcnow
from conference.core.security import hash_token
from conference.stands.models import (
    AddonKind,
    ExhibitorPass,
    Stand,
    StandAddon,
    StandBooking,
    StandBookingStatus,
    StandHall,
    StandPackage,
    StandStatus,
)


def make_hall(edition, *, booking_mode: str = "binding") -> dict:
    hall = StandHall(
        edition_id=edition.id,
        name="Hal C",
        width_cm=3000,
        depth_cm=2000,
        booking_mode=booking_mode,
        terms="Standen er bindende.",
    )
    standard = StandPackage(
        edition_id=edition.id,
        name="Standardpakke",
        name_en="Standard package",
        price_net_ore=2_500_000,
        included_passes=2,
        includes="Strøm 230 V\nBord og to stole",
    )
    corner = StandPackage(
        edition_id=edition.id, name="Hjørnestand", price_net_ore=3_500_000, included_passes=3
    )
    power = StandAddon(
        edition_id=edition.id, kind=AddonKind.POWER, name="Ekstra strøm", price_net_ore=75_000
    )
    extra_pass = StandAddon(
        edition_id=edition.id,
        kind=AddonKind.EXTRA_PASS,
        name="Ekstra udstillerpas",
        price_net_ore=120_000,
    )
    db.session.add_all([hall, standard, corner, power, extra_pass])
    db.session.flush()
    stands = {
        code: Stand(
            edition_id=edition.id,
            code=code,
            x_cm=x,
            y_cm=100,
            width_cm=300,
            depth_cm=300,
            package_id=(corner if code == "A4" else standard).id,
        )
        for code, x in (("A1", 100), ("A2", 500), ("A3", 900), ("A4", 1300))
    }
    db.session.add_all(stands.values())
    db.session.commit()
    return {
        "hall": hall,
        "standard": standard,
        "corner": corner,
        "power": power,
        "extra_pass": extra_pass,
        **stands,
    }


def insert_booking(
    edition,
    stand: Stand,
    *,
    company: str = "Netic A/S",
    status: str = StandBookingStatus.CONFIRMED,
    addons: list | None = None,
    staff: tuple[str, ...] = (),
) -> StandBooking:
    """A booking row holding ``stand`` (unless declined or cancelled)."""
    package = stand.package
    booking = StandBooking(
        reference="ST" + secrets.token_hex(3).upper(),
        edition_id=edition.id,
        stand_id=stand.id,
        status=status,
        manage_token_hash=hash_token(secrets.token_urlsafe(32)),
        company=company,
        cvr="25313763",
        address="Niels Bohrs Vej 9",
        postcode="9220",
        city="Aalborg Ø",
        contact_name="Mette Holm",
        contact_email="mette@netic.dk",
        contact_phone="+45 70 20 20 20",
        invoice_email="faktura@netic.dk",
        ean="5790001330552",
        terms_accepted_at=utcnow(),
        package_name=package.name,
        package_net_ore=package.price_net_ore,
        package_vat_percent=package.vat_percent,
        included_passes=package.included_passes,
        addons=addons or [],
    )
    db.session.add(booking)
    db.session.flush()
    if status in (StandBookingStatus.CONFIRMED, StandBookingStatus.REQUESTED):
        stand.status = (
            StandStatus.BOOKED if status == StandBookingStatus.CONFIRMED else StandStatus.RESERVED
        )
        stand.booking_id = booking.id
    for index, name in enumerate(staff):
        db.session.add(
            ExhibitorPass(
                booking_id=booking.id,
                edition_id=edition.id,
                name=name,
                email=f"staff{index}@netic.dk",
                ticket_code=secrets.token_hex(8),
            )
        )
    db.session.commit()
    return booking


def power_snapshot(addon: StandAddon, quantity: int = 2) -> list[dict]:
    return [
        {
            "addon_id": addon.id,
            "kind": addon.kind,
            "name": addon.name,
            "quantity": quantity,
            "unit_net_ore": addon.price_net_ore,
            "vat_percent": addon.vat_percent,
        }
    ]
