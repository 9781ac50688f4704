"""An access code's uses held by an unpaid card order come back when the hold does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from conference.core.db import db, utcnow
from conference.events.models import AccessCode
from conference.payments.services import expire_stale_checkouts
from tests.conftest import booking_form
from tests.payments.helpers import order_by_reference, start_card_booking, taken

LATER = timedelta(minutes=21)


def _partner_code(edition, max_uses: int) -> AccessCode:
    code = AccessCode(
        edition_id=edition.id,
        ticket_type_id=edition.ticket_types[0].id,
        code="PARTNER27",
        price_net_ore=150_000,
        max_uses=max_uses,
    )
    db.session.add(code)
    db.session.commit()
    return code


def _uses(code: AccessCode) -> int:
    db.session.expire_all()
    return db.session.get(AccessCode, code.id).used


def test_an_expired_hold_gives_its_code_uses_back_for_the_next_booker(client, edition, stripe_fake):
    code = _partner_code(edition, max_uses=2)
    order, _session = start_card_booking(
        client, edition, stripe_fake, count=2, access_code="partner27"
    )
    assert _uses(code) == 2
    # Meanwhile the code is used up: the next booker is told so.
    refused = client.post(
        f"/e/{edition.slug}/register",
        data=booking_form(edition, 1, access_code="PARTNER27", booker_email="next@kk.dk"),
    )
    assert "Denne adgangskode er brugt op." in refused.get_data(as_text=True)

    assert expire_stale_checkouts(now=utcnow() + LATER) == 1

    assert order_by_reference(order.reference).status == "expired"
    assert taken(edition) == 0
    assert _uses(code) == 0
    booked = client.post(
        f"/e/{edition.slug}/register",
        data=booking_form(edition, 2, access_code="PARTNER27", booker_email="next@kk.dk"),
    )
    assert booked.status_code == 303
    assert _uses(code) == 2


def test_a_booker_who_leaves_checkout_gives_the_code_uses_back(client, edition, stripe_fake):
    code = _partner_code(edition, max_uses=3)
    order, session = start_card_booking(
        client, edition, stripe_fake, count=2, access_code="PARTNER27"
    )
    assert _uses(code) == 2

    cancel_path = session["cancel_url"].split("://", 1)[1].split("/", 1)[1]
    client.get("/" + cancel_path)

    assert order_by_reference(order.reference).status == "expired"
    assert _uses(code) == 0


def test_an_expired_hold_without_a_code_leaves_every_code_alone(client, edition, stripe_fake):
    code = _partner_code(edition, max_uses=3)
    client.post(
        f"/e/{edition.slug}/register",
        data=booking_form(edition, 1, access_code="PARTNER27", booker_email="kept@kk.dk"),
    )
    start_card_booking(client, edition, stripe_fake, count=2)

    assert expire_stale_checkouts(now=utcnow() + LATER) == 1

    assert _uses(code) == 1
    assert db.session.scalar(select(AccessCode.used).where(AccessCode.id == code.id)) == 1
