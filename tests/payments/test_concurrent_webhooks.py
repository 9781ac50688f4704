"""Stripe delivering the same event twice at the same moment (PostgreSQL, real threads)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conference import create_app
from conference.core.db import db
from conference.invoicing.models import Invoice
from conference.payments.models import StripeEvent
from tests.concurrency.conftest import run_together
from tests.conftest import postgres_only
from tests.mail.helpers import outbox
from tests.payments.conftest import deliver, make_event
from tests.payments.helpers import order_by_reference, start_card_booking, taken

pytestmark = postgres_only


@pytest.fixture
def webhook_app(app, stripe_fake, database_url):
    """A second app on the same database for the racing threads, with the same Stripe."""
    racing = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 8, "max_overflow": 0},
            **{key: app.config[key] for key in app.config if key.startswith("STRIPE_")},
        },
    )
    yield racing
    with racing.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("kind", ["same_event", "success_page_and_webhook"])
def test_concurrent_deliveries_apply_once(client, edition, stripe_fake, webhook_app, kind):
    order, session = start_card_booking(client, edition, stripe_fake, count=2)
    paid = stripe_fake.pay(session["id"])
    event = make_event("checkout.session.completed", paid)
    other = make_event("checkout.session.completed", paid)
    db.session.commit()

    def webhook(evt):
        def job():
            response = deliver(webhook_app.test_client(), evt)
            return response.status_code, response.json["outcome"]

        return job

    def success_page():
        response = webhook_app.test_client().get(f"/pay/{session['id']}/done")
        return response.status_code, "page"

    if kind == "same_event":
        jobs = [webhook(event) for _ in range(4)]
    else:
        # Two different events about the same payment and the booker's success page.
        jobs = [webhook(event), webhook(other), success_page, success_page]
    outcomes = run_together(webhook_app, jobs)

    for outcome in outcomes:
        assert outcome.error is None, outcome.trace
        assert outcome.value[0] == 200
    answers = sorted(outcome.value[1] for outcome in outcomes)
    assert answers.count("confirmed") <= 1
    db.session.expire_all()
    assert order_by_reference(order.reference).status == "confirmed"
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 1
    assert len(outbox("order_confirmation")) == 1
    assert len(outbox("ticket")) == 2
    assert taken(edition) == 2
    if kind == "same_event":
        assert answers == ["confirmed", "duplicate", "duplicate", "duplicate"]
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 1
