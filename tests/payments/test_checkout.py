"""Choosing card payment on the registration form and being sent to Stripe Checkout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from sqlalchemy import func, select

from conference.core.db import db, utcnow
from conference.payments.models import CheckoutSession
from conference.registration.models import Order
from tests.conftest import booking_form
from tests.mail.helpers import outbox
from tests.payments.conftest import SECRET_KEY
from tests.payments.helpers import register_by_card, start_card_booking, taken


def test_without_stripe_keys_the_form_offers_no_card_and_invoice_orders_work(client, edition):
    page = client.get(f"/e/{edition.slug}/register").get_data(as_text=True)
    assert 'name="payment_method"' not in page
    assert "Stripe" not in page

    # A page from before card payment was switched off: told so, nothing registered.
    response = register_by_card(client, edition)
    assert response.status_code == 200
    assert 'id="payment-unavailable"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0

    response = client.post(f"/e/{edition.slug}/register", data=booking_form(edition, 1))
    assert response.status_code == 303
    assert "/m/" in response.headers["Location"]


def test_with_stripe_keys_the_form_offers_card_or_invoice(client, edition, stripe_fake):
    page = client.get(f"/e/{edition.slug}/register").get_data(as_text=True)
    assert 'name="payment_method" value="invoice" checked' in page
    assert 'name="payment_method" value="card"' in page
    assert "holdes til dig i 20 minutter" in page or "held for 20 minutes" in page

    english = client.get(f"/e/{edition.slug}/register?lang=en").get_data(as_text=True)
    assert "Card, now" in english
    assert "Your places are held for 20 minutes while you pay" in english


def test_paying_by_card_holds_the_places_and_sends_the_booker_to_checkout(
    client, edition, stripe_fake
):
    before = utcnow()
    order, session = start_card_booking(client, edition, stripe_fake, count=3)

    assert order.status == "pending_payment"
    assert order.payment_method == "card"
    assert order.payment_status == "awaiting_payment"
    assert order.hold_expires_at >= before + timedelta(minutes=19)
    assert taken(edition) == 3
    # Nothing is confirmed yet: no confirmation, no tickets, no invoice.
    assert outbox() == []

    sent = stripe_fake.created_with[session["id"]]
    assert sent["lines"] == [
        {
            "name": f"Deltager · {edition.name}",
            "unit_amount": 321875,  # 2.575,00 kr. + 25 % moms, in øre
            "quantity": 3,
            "currency": "dkk",
        }
    ]
    assert session["amount_total"] == order.total_gross_ore == 3 * 321875
    form = sent["form"]
    assert form["mode"] == "payment"
    assert form["currency"] == "dkk"
    assert form["customer_email"] == "hanne@aarhus.dk"
    assert form["client_reference_id"] == order.reference
    assert form["metadata[order_reference]"] == order.reference
    assert form["locale"] == "da"
    assert sent["idempotency_key"] == f"checkout-{order.reference}"
    # Stripe fills in the session id itself; the cancel link is signed, not guessable.
    assert form["success_url"].endswith("/pay/{CHECKOUT_SESSION_ID}/done")
    assert urlparse(form["cancel_url"]).path.startswith("/pay/cancel/")
    assert order.reference not in form["cancel_url"]
    # Stripe wants at least 30 minutes; the hold is shorter, so the session gets 30+.
    expires_at = datetime.fromtimestamp(int(form["expires_at"]), UTC).replace(tzinfo=None)
    assert expires_at >= before + timedelta(minutes=30)
    assert expires_at <= utcnow() + timedelta(minutes=32)

    row = db.session.scalar(select(CheckoutSession))
    assert row.stripe_id == session["id"]
    assert row.order_id == order.id
    assert row.status == "open"
    assert row.amount_total_ore == 3 * 321875
    assert row.url == session["url"]


def test_english_bookers_get_checkout_in_english(client, edition, stripe_fake):
    client.get(f"/e/{edition.slug}?lang=en")
    _order, session = start_card_booking(client, edition, stripe_fake)
    assert session["locale"] == "en"


def test_stripe_down_at_checkout_shows_the_form_again_and_releases_the_places(
    client, edition, stripe_fake
):
    stripe_fake.down = True
    response = register_by_card(client, edition, 2)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="payment-unavailable"' in page
    assert "Kortbetaling" in page or "Card payment is not available right now" in page
    # What was typed is still there, card still chosen.
    assert 'value="Hanne Jensen"' in page
    assert 'name="payment_method" value="card" checked' in page
    assert taken(edition) == 0
    assert db.session.scalar(select(func.count()).select_from(CheckoutSession)) == 0
    order = db.session.scalar(select(Order))
    assert order.status == "expired"  # nothing held, nothing confirmed
    assert outbox() == []

    client.get(f"/e/{edition.slug}?lang=en")
    english = register_by_card(client, edition, 1).get_data(as_text=True)
    assert "Card payment is not available right now, so nothing was registered." in english
    assert "choose to pay by invoice" in english


def test_unreachable_stripe_is_the_same_as_stripe_down(client, app, edition, stripe_fake):
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"  # nothing listens there
    response = register_by_card(client, edition, 1)
    assert response.status_code == 200
    assert 'id="payment-unavailable"' in response.get_data(as_text=True)
    assert taken(edition) == 0


def test_a_free_order_chosen_by_card_is_confirmed_without_checkout(client, edition, stripe_fake):
    edition.ticket_types[0].price_net_ore = 0
    db.session.commit()
    response = register_by_card(client, edition, 1)
    assert response.status_code == 303
    assert "/m/" in response.headers["Location"]
    assert stripe_fake.sessions == {}


def test_the_secret_key_never_reaches_the_page(client, edition, stripe_fake):
    page = client.get(f"/e/{edition.slug}/register").get_data(as_text=True)
    assert SECRET_KEY not in page
