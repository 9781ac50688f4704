"""The pages Stripe sends the booker back to, hold expiry, and reconciliation."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

from conference.core.db import db, utcnow
from conference.events.services import copenhagen_date
from conference.invoicing.services import document_status, invoice_for_order
from conference.payments.services import expire_stale_checkouts
from tests.mail.helpers import outbox
from tests.payments.conftest import checkout_row, deliver, make_event
from tests.payments.helpers import (
    fill_the_rest,
    order_by_reference,
    start_card_booking,
    taken,
)

LATER = timedelta(minutes=21)


def _cancel_path(session: dict) -> str:
    return urlparse(session["cancel_url"]).path


# --- success page ------------------------------------------------------------------


def test_success_page_confirms_from_stripe_when_the_webhook_is_late(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake, count=2)
    paid = stripe_fake.pay(session["id"])

    page = client.get(f"/pay/{session['id']}/done")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-state="paid"' in html
    assert "Betalingen er modtaget" in html or "Payment received" in html
    assert page.headers["Cache-Control"] == "no-store"
    order = order_by_reference(order.reference)
    assert order.status == "confirmed"
    assert document_status(invoice_for_order(order)) == "paid"
    # The webhook arriving afterwards finds it done.
    late = deliver(client, make_event("checkout.session.completed", paid))
    assert late.json["outcome"] == "unchanged"
    assert len(outbox("order_confirmation")) == 1


def test_success_page_while_stripe_has_not_settled_says_we_are_confirming(
    client, edition, stripe_fake
):
    client.get(f"/e/{edition.slug}?lang=en")
    _order, session = start_card_booking(client, edition, stripe_fake)

    page = client.get(f"/pay/{session['id']}/done")

    html = page.get_data(as_text=True)
    assert 'data-state="processing"' in html
    assert "We are confirming your payment" in html
    assert page.headers["Refresh"] == "5"


def test_success_page_with_stripe_down_says_we_are_confirming(client, edition, stripe_fake):
    _order, session = start_card_booking(client, edition, stripe_fake)
    stripe_fake.pay(session["id"])
    stripe_fake.down = True

    page = client.get(f"/pay/{session['id']}/done")

    assert page.status_code == 200
    assert 'data-state="processing"' in page.get_data(as_text=True)


def test_success_page_is_in_the_bookers_language(client, edition, stripe_fake):
    client.get(f"/e/{edition.slug}?lang=en")
    _order, session = start_card_booking(client, edition, stripe_fake)
    stripe_fake.pay(session["id"])

    fresh = client.application.test_client()  # back from Stripe in another browser
    html = fresh.get(f"/pay/{session['id']}/done").get_data(as_text=True)
    assert "Payment received: your places are confirmed" in html


def test_unknown_or_guessed_links_show_nothing(client, edition, stripe_fake):
    _order, session = start_card_booking(client, edition, stripe_fake)
    assert client.get("/pay/cs_test_guess/done").status_code == 404
    assert client.get("/pay/cancel/DT234567").status_code == 404
    forged = _cancel_path(session)[:-3] + "xyz"
    assert client.get(forged).status_code == 404


# --- cancel page ---------------------------------------------------------------------


def test_cancel_expires_the_session_and_releases_the_places(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake, count=3)
    assert taken(edition) == 3

    page = client.get(_cancel_path(session))

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-state="released"' in html
    assert f'href="/e/{edition.slug}/register"' in html
    assert stripe_fake.expire_calls == [session["id"]]
    assert stripe_fake.sessions[session["id"]]["status"] == "expired"
    assert order_by_reference(order.reference).status == "expired"
    assert checkout_row(session["id"]).status == "expired"
    assert taken(edition) == 0

    # Coming back again (or Stripe's expired webhook) changes nothing more.
    assert client.get(_cancel_path(session)).status_code == 200
    expired = deliver(
        client, make_event("checkout.session.expired", stripe_fake.sessions[session["id"]])
    )
    assert expired.json["outcome"] == "unchanged"
    assert taken(edition) == 0


def test_cancel_after_paying_in_another_tab_keeps_the_paid_places(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    stripe_fake.pay(session["id"])

    html = client.get(_cancel_path(session)).get_data(as_text=True)

    assert 'data-state="paid"' in html
    assert order_by_reference(order.reference).status == "confirmed"
    assert taken(edition) == 1


def test_cancel_with_stripe_down_still_releases_the_places(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    stripe_fake.down = True

    html = client.get(_cancel_path(session)).get_data(as_text=True)

    assert 'data-state="released"' in html
    assert order_by_reference(order.reference).status == "expired"
    assert taken(edition) == 0


# --- hold expiry ---------------------------------------------------------------------


def test_a_hold_that_ran_out_is_released_and_its_session_expired(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake, count=2)

    assert expire_stale_checkouts() == 0  # not yet
    assert taken(edition) == 2

    assert expire_stale_checkouts(now=utcnow() + LATER) == 1

    assert stripe_fake.expire_calls == [session["id"]]
    assert stripe_fake.sessions[session["id"]]["status"] == "expired"
    assert order_by_reference(order.reference).status == "expired"
    assert taken(edition) == 0
    assert expire_stale_checkouts(now=utcnow() + LATER) == 0


def test_a_hold_whose_session_was_paid_is_confirmed_not_released(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    stripe_fake.pay(session["id"])  # and the webhook got lost

    assert expire_stale_checkouts(now=utcnow() + LATER) == 0

    assert order_by_reference(order.reference).status == "confirmed"
    assert taken(edition) == 1
    assert len(outbox("order_confirmation")) == 1


def test_a_hold_is_released_on_time_even_when_stripe_is_down(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    stripe_fake.down = True

    assert expire_stale_checkouts(now=utcnow() + LATER) == 1

    assert order_by_reference(order.reference).status == "expired"
    assert taken(edition) == 0
    # The session stays open at Stripe; if it is paid anyway, it is a late payment.
    stripe_fake.down = False
    response = deliver(
        client, make_event("checkout.session.completed", stripe_fake.pay(session["id"]))
    )
    assert response.json["outcome"] == "late_confirmed"


def test_a_paid_hold_found_by_a_sweep_after_midnight_is_paid_on_the_sweeps_day(
    client, edition, stripe_fake
):
    # The sweep judges "today" by its own clock: late in the evening, 21 minutes
    # on is already tomorrow in Copenhagen, and the payment must still land.
    order, session = start_card_booking(client, edition, stripe_fake)
    stripe_fake.pay(session["id"])
    sweep_time = utcnow() + timedelta(days=1)

    assert expire_stale_checkouts(now=sweep_time) == 0

    order = order_by_reference(order.reference)
    assert order.status == "confirmed"
    invoice = invoice_for_order(order)
    assert document_status(invoice) == "paid"
    assert [p.paid_on for p in invoice.payments] == [copenhagen_date(sweep_time)]


def test_the_cli_and_the_outbox_worker_release_holds(app, client, edition, stripe_fake):
    order, _session = start_card_booking(client, edition, stripe_fake)
    order.hold_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["payments", "expire-holds"])
    assert result.exit_code == 0, result.output
    assert "Released 1 card hold(s)." in result.output
    assert taken(edition) == 0

    other, _ = start_card_booking(client, edition, stripe_fake, booker_email="b@aarhus.dk")
    other.hold_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "Released 1 card hold(s)." in result.output
    assert order_by_reference(other.reference).status == "expired"


# --- reconciliation ------------------------------------------------------------------


def test_reconcile_repairs_a_lost_completed_and_a_lost_expired_webhook(
    app, client, small_edition, stripe_fake
):
    edition = small_edition
    paid_order, paid = start_card_booking(client, edition, stripe_fake, count=1)
    gone_order, gone = start_card_booking(
        client, edition, stripe_fake, count=2, booker_email="b@x.dk"
    )
    open_order, still_open = start_card_booking(
        client, edition, stripe_fake, count=1, booker_email="c@x.dk"
    )
    stripe_fake.pay(paid["id"])
    stripe_fake.expire(gone["id"])
    # Neither webhook arrived.
    assert taken(edition) == 4

    result = app.test_cli_runner().invoke(args=["payments", "reconcile"])

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert f"{paid['id']} {paid_order.reference}: confirmed" in lines
    assert f"{gone['id']} {gone_order.reference}: released" in lines
    assert lines[-1].startswith("Checked 3 open session(s): repaired 2, errors 0")
    assert order_by_reference(paid_order.reference).status == "confirmed"
    assert order_by_reference(gone_order.reference).status == "expired"
    assert order_by_reference(open_order.reference).status == "pending_payment"
    assert taken(edition) == 2

    again = app.test_cli_runner().invoke(args=["payments", "reconcile"])
    assert "Checked 1 open session(s): repaired 0" in again.output


def test_reconcile_refunds_a_lost_late_payment(app, client, small_edition, stripe_fake):
    order, session = start_card_booking(client, small_edition, stripe_fake, count=1)
    with stripe_fake_down(stripe_fake):
        expire_stale_checkouts(now=utcnow() + LATER)  # released, session left open
    fill_the_rest(small_edition)
    stripe_fake.pay(session["id"])

    result = app.test_cli_runner().invoke(args=["payments", "reconcile"])

    assert f"{session['id']} {order.reference}: refunded_no_places" in result.output
    assert "refunds sent 1, failed 0" in result.output
    assert len(stripe_fake.refunds) == 1
    assert len(outbox("payment_refunded_no_place")) == 1


def test_reconcile_without_stripe_keys_says_so(app):
    result = app.test_cli_runner().invoke(args=["payments", "reconcile"])
    assert result.exit_code != 0
    assert "STRIPE_SECRET_KEY" in result.output


class stripe_fake_down:  # noqa: N801 - reads as a phrase: with stripe_fake_down(fake)
    def __init__(self, fake) -> None:
        self.fake = fake

    def __enter__(self):
        self.fake.down = True

    def __exit__(self, *exc):
        self.fake.down = False
