"""Stripe answering 500 or not answering in time: at checkout, at expiry, at refund.

The Stripe fake of tests/payments runs on a threaded server here and can stall
an answer: it does what Stripe would do (the session is created, expired, the
refund made), then keeps the answer back until the test ends, long after the
app's client gave up (STRIPE_TIMEOUT_SECONDS, short in these tests). That is
the hard case: the app cannot know whether Stripe acted. What stays true:
the booker is told, held places go back on time, and a retry uses the same
idempotency key, so nothing is charged or refunded twice. Stripe answering
500 at each of these points is covered in tests/payments (test_checkout,
test_holds, test_webhooks); here only what those do not show.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from conference.core.db import db, utcnow
from conference.payments.models import CheckoutSession, Refund
from conference.payments.services import expire_stale_checkouts, send_pending_refunds
from conference.registration.models import Order
from tests.auth.helpers import log_in, make_staff
from tests.mail.helpers import outbox
from tests.payments.conftest import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    checkout_row,
    deliver,
    make_event,
)
from tests.payments.helpers import (
    order_by_reference,
    register_by_card,
    start_card_booking,
    taken,
)

#: The app's read timeout for Stripe in these tests (production: 20 s).
CLIENT_TIMEOUT = 0.3
LATER = timedelta(minutes=21)


class StallingStripe(FakeStripe):
    """The fake, able to hold back the answer of the next n calls to an endpoint."""

    def __init__(self, server) -> None:
        super().__init__(server)
        self.stall: Counter[str] = Counter()  # "create", "expire", "refund"
        self.stalled: Counter[str] = Counter()
        self.let_go = threading.Event()
        self._stall_lock = threading.Lock()

    def _answer_late(self, endpoint: str, response):
        with self._stall_lock:
            stall = self.stall[endpoint] > 0
            if stall:
                self.stall[endpoint] -= 1
                self.stalled[endpoint] += 1
        if stall:
            # Done at Stripe; the answer waits until the test is over.
            self.let_go.wait(timeout=30)
        return response

    def _create(self, request):
        return self._answer_late("create", super()._create(request))

    def _expire(self, request):
        return self._answer_late("expire", super()._expire(request))

    def _refund(self, request):
        return self._answer_late("refund", super()._refund(request))


@pytest.fixture
def stripe_fake(app):
    """Card payments on, talking to a stalling fake on a threaded server."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    fake = StallingStripe(server)
    app.config.update(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=fake.api_base,
        STRIPE_MAX_NETWORK_RETRIES=0,
        STRIPE_TIMEOUT_SECONDS=CLIENT_TIMEOUT,
    )
    yield fake
    fake.let_go.set()
    server.clear()
    server.stop()


class within:  # noqa: N801 - reads as a phrase: with within(seconds)
    """The block took less than ``seconds``: a timeout, not a hang."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self):
        self.start = time.monotonic()

    def __exit__(self, *exc):
        assert time.monotonic() - self.start < self.seconds


def _sessions_in_db() -> int:
    return db.session.scalar(select(func.count()).select_from(CheckoutSession))


# --- checkout creation -----------------------------------------------------------------


def test_checkout_timing_out_releases_the_hold_and_tells_the_booker(client, edition, stripe_fake):
    stripe_fake.stall["create"] = 1

    with within(5):
        response = register_by_card(client, edition, 2)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="payment-unavailable"' in page
    assert "Kortbetaling er ikke mulig lige nu, så tilmeldingen er ikke gennemført." in page
    assert 'value="Hanne Jensen"' in page  # what was typed is still there
    assert taken(edition) == 0
    order = db.session.scalar(select(Order))
    assert order.status == "expired"
    assert _sessions_in_db() == 0
    assert outbox() == []

    # Stripe made the session, but its address never reached anyone: nothing can
    # be paid through it. When Stripe expires it, the event changes nothing.
    orphan = stripe_fake.only_session()
    assert orphan["status"] == "open" and orphan["payment_status"] == "unpaid"
    expired = deliver(
        client, make_event("checkout.session.expired", stripe_fake.expire(orphan["id"]))
    )
    assert expired.status_code == 200
    assert taken(edition) == 0

    # Trying again once Stripe answers: a new order, its own session.
    again = register_by_card(client, edition, 2)
    assert again.status_code == 303
    assert orphan["id"] not in again.headers["Location"]
    assert taken(edition) == 2


def test_a_retried_checkout_after_a_timeout_gets_the_same_session_not_a_second(
    app, client, edition, stripe_fake
):
    app.config["STRIPE_MAX_NETWORK_RETRIES"] = 1  # production retries twice
    stripe_fake.stall["create"] = 1

    order, session = start_card_booking(client, edition, stripe_fake, count=2)

    # The retry went with the same idempotency key: Stripe answered with the session
    # it had made for the first try, so the booker pays one session, once.
    assert stripe_fake.stalled["create"] == 1
    assert len(stripe_fake.sessions) == 1
    assert checkout_row(session["id"]).order_id == order.id
    assert order.status == "pending_payment"
    assert taken(edition) == 2


# --- ending a session -----------------------------------------------------------------


def test_cancel_with_the_expiry_timing_out_still_releases_the_places(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake, count=3)
    stripe_fake.stall["expire"] = 1

    with within(5):
        page = client.get(urlparse(session["cancel_url"]).path)

    assert page.status_code == 200
    assert 'data-state="released"' in page.get_data(as_text=True)
    assert order_by_reference(order.reference).status == "expired"
    assert taken(edition) == 0
    # Stripe did expire it; its event, when it comes, changes nothing.
    assert stripe_fake.sessions[session["id"]]["status"] == "expired"
    event = make_event("checkout.session.expired", stripe_fake.sessions[session["id"]])
    assert deliver(client, event).json["outcome"] == "unchanged"
    assert taken(edition) == 0


def test_hold_expiry_with_stripe_timing_out_releases_every_hold_on_time(
    client, edition, stripe_fake
):
    first, _ = start_card_booking(client, edition, stripe_fake, count=2)
    second, _ = start_card_booking(client, edition, stripe_fake, booker_email="b@aarhus.dk")
    stripe_fake.stall["expire"] = 2

    with within(5):
        released = expire_stale_checkouts(now=utcnow() + LATER)

    assert released == 2
    assert stripe_fake.stalled["expire"] == 2
    assert order_by_reference(first.reference).status == "expired"
    assert order_by_reference(second.reference).status == "expired"
    assert taken(edition) == 0


# --- refunds ------------------------------------------------------------------------


def test_a_refund_timing_out_is_retried_with_its_key_and_refunds_once(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake, count=2)
    deliver(client, make_event("checkout.session.completed", stripe_fake.pay(session["id"])))
    make_staff()
    log_in(client, "organiser@example.dk")
    stripe_fake.stall["refund"] = 1

    with within(5):
        response = client.post(
            f"/staff/e/{edition.slug}/orders/{order.reference}/cancel",
            data={"confirm": "y", "reason": "Aflyst"},
            follow_redirects=True,
        )

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # The organiser is told the refund is not through yet, and that it is retried.
    assert "will be sent again automatically" in page
    db.session.expire_all()
    (refund,) = db.session.scalars(select(Refund)).all()
    assert refund.status == "failed"
    assert "timed out" in refund.last_error.lower() or "timeout" in refund.last_error.lower()
    # Stripe did refund: the answer was lost.
    assert len(stripe_fake.refunds) == 1

    run = send_pending_refunds()  # the worker, a minute later

    assert (run.sent, run.failed) == (1, 0)
    db.session.expire_all()
    refund = db.session.get(Refund, refund.id)
    assert refund.status == "succeeded"
    assert refund.stripe_id == stripe_fake.refunds[0]["id"]
    assert len(stripe_fake.refunds) == 1, "the same key: refunded once"
    assert stripe_fake.refund_keys == [f"refund-{refund.id}"]
    assert send_pending_refunds().sent == 0
