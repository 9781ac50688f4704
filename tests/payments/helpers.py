"""Driving a card booking through the pages, and reading back what it left."""

from __future__ import annotations

from sqlalchemy import func, select

from conference.core.db import db
from conference.events.models import Quota
from conference.payments.models import StripeEvent
from conference.registration.models import Order
from tests.conftest import booking_form


def register_by_card(client, edition, count: int = 1, **overrides):
    data = booking_form(edition, count, payment_method="card", **overrides)
    return client.post(f"/e/{edition.slug}/register", data=data)


def start_card_booking(client, edition, fake, count: int = 1, **overrides) -> tuple[Order, dict]:
    """Register by card and follow nothing: (the held order, the session at Stripe)."""
    response = register_by_card(client, edition, count, **overrides)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    session_id = response.headers["Location"].rsplit("/", 1)[1]
    session = fake.sessions[session_id]
    assert response.headers["Location"] == session["url"]
    return order_by_reference(session["client_reference_id"]), session


def order_by_reference(reference: str) -> Order:
    db.session.expire_all()
    return db.session.scalar(select(Order).where(Order.reference == reference))


def taken(edition) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.sum(Quota.taken)).where(Quota.edition_id == edition.id))


def events_recorded() -> int:
    return db.session.scalar(select(func.count()).select_from(StripeEvent))


def fill_the_rest(edition, who: str = "rival") -> None:
    """Another booker takes every free place by invoice."""
    from conference.registration.services import place_order
    from tests.conftest import booking_details

    db.session.expire_all()
    quota = edition.quotas[0]
    free = quota.capacity - quota.taken
    details = booking_details(edition, free, booker_email=f"{who}@kommune.dk")
    for index, attendee in enumerate(details.attendees):
        attendee.email = f"{who}.{index}@kommune.dk"
    place_order(edition, details)
    db.session.commit()
