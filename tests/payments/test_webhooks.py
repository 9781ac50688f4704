"""Stripe's webhook: verified, applied exactly once, right in any order of arrival."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from conference.core.db import db, utcnow
from conference.core.errors import DomainError
from conference.invoicing.services import document_status, invoice_for_order
from conference.payments.models import Refund, StripeEvent
from conference.payments.services import (
    expire_stale_checkouts,
    request_refund,
    send_pending_refunds,
)
from conference.registration.services import cancel_attendee, cancel_order
from tests.mail.helpers import outbox
from tests.payments.conftest import (
    WEBHOOK_SECRET,
    checkout_row,
    deliver,
    make_event,
    signature_header,
)
from tests.payments.helpers import (
    events_recorded,
    fill_the_rest,
    order_by_reference,
    start_card_booking,
    taken,
)


def _paid(fake, session) -> dict:
    return fake.pay(session["id"])


def test_completed_webhook_confirms_the_order_issues_a_paid_invoice_and_sends_the_receipt(
    client, edition, stripe_fake
):
    order, session = start_card_booking(client, edition, stripe_fake, count=2)

    response = deliver(
        client, make_event("checkout.session.completed", _paid(stripe_fake, session))
    )

    assert response.status_code == 200
    assert response.json["outcome"] == "confirmed"
    order = order_by_reference(order.reference)
    assert order.status == "confirmed"
    assert order.payment_status == "paid"
    assert order.hold_expires_at is None
    assert taken(edition) == 2
    invoice = invoice_for_order(order)
    assert invoice is not None
    assert invoice.total_ore == 2 * 321875
    assert document_status(invoice) == "paid"
    assert invoice.payments[0].method == "card"
    # The receipt: the confirmation with the paid invoice attached, and a ticket each.
    (confirmation,) = outbox("order_confirmation")
    assert confirmation.to_address == "hanne@aarhus.dk"
    assert [a["content_type"] for a in confirmation.attachments] == ["application/pdf"]
    assert order.reference in confirmation.subject
    assert sorted(m.to_address for m in outbox("ticket")) == [
        "kollega1@aarhus.dk",
        "kollega2@aarhus.dk",
    ]
    row = checkout_row(session["id"])
    assert row.status == "complete"
    assert row.payment_intent_id == session["payment_intent"]

    # The success page Stripe sends the booker to says so.
    page = client.get(f"/pay/{session['id']}/done").get_data(as_text=True)
    assert 'data-state="paid"' in page
    assert "hanne@aarhus.dk" in page


def test_a_repeated_delivery_changes_nothing(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    event = make_event("checkout.session.completed", _paid(stripe_fake, session))

    assert deliver(client, event).json["outcome"] == "confirmed"
    second = deliver(client, event)

    assert second.status_code == 200
    assert second.json["outcome"] == "duplicate"
    assert events_recorded() == 1
    assert len(outbox("order_confirmation")) == 1
    assert taken(edition) == 1


def test_a_second_event_about_a_paid_session_changes_nothing(client, edition, stripe_fake):
    _order, session = start_card_booking(client, edition, stripe_fake)
    paid = _paid(stripe_fake, session)
    deliver(client, make_event("checkout.session.completed", paid))

    again = deliver(client, make_event("checkout.session.async_payment_succeeded", paid))

    assert again.json["outcome"] == "unchanged"
    assert len(outbox("order_confirmation")) == 1


def test_expired_after_completed_keeps_the_places(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    paid = _paid(stripe_fake, session)
    deliver(client, make_event("checkout.session.completed", paid))

    # A stale "expired" snapshot arriving late must not undo the payment.
    stale = dict(paid, status="expired", payment_status="unpaid")
    response = deliver(client, make_event("checkout.session.expired", stale))

    assert response.json["outcome"] == "unchanged"
    assert order_by_reference(order.reference).status == "confirmed"
    assert taken(edition) == 1


def test_expired_session_releases_the_places(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake, count=2)

    response = deliver(
        client, make_event("checkout.session.expired", stripe_fake.expire(session["id"]))
    )

    assert response.json["outcome"] == "released"
    assert order_by_reference(order.reference).status == "expired"
    assert taken(edition) == 0
    assert checkout_row(session["id"]).status == "expired"
    page = client.get(f"/pay/{session['id']}/done").get_data(as_text=True)
    assert 'data-state="released"' in page


def test_completed_after_expired_with_places_free_is_confirmed_late(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake, count=2)
    deliver(client, make_event("checkout.session.expired", dict(session, status="expired")))
    assert taken(edition) == 0

    response = deliver(
        client, make_event("checkout.session.completed", _paid(stripe_fake, session))
    )

    assert response.json["outcome"] == "late_confirmed"
    order = order_by_reference(order.reference)
    assert order.status == "confirmed"
    assert order.payment_status == "paid"
    assert taken(edition) == 2
    assert document_status(invoice_for_order(order)) == "paid"
    assert len(outbox("order_confirmation")) == 1
    assert stripe_fake.refunds == []


def test_late_payment_with_the_places_gone_is_refunded_and_the_payer_told(
    client, small_edition, stripe_fake
):
    edition = small_edition
    order, session = start_card_booking(client, edition, stripe_fake, count=2)
    # The hold runs out; the worker releases it (Stripe's session is expired too)...
    released = expire_stale_checkouts(now=utcnow() + timedelta(minutes=21))
    assert released == 1
    assert stripe_fake.expire_calls == [session["id"]]
    # ... and someone else takes every place.
    fill_the_rest(edition)
    assert taken(edition) == 5

    # Stripe had taken the money just before it expired the session.
    paid = dict(stripe_fake.pay(session["id"]))
    response = deliver(client, make_event("checkout.session.completed", paid))

    assert response.status_code == 200
    assert response.json["outcome"] == "refunded_no_places"
    order = order_by_reference(order.reference)
    assert order.status == "expired"
    assert order.payment_status == "refunded"
    assert taken(edition) == 5  # nobody was pushed out
    assert invoice_for_order(order) is None
    # Refunded through Stripe, in full, once.
    (refund,) = stripe_fake.refunds
    assert refund["payment_intent"] == paid["payment_intent"]
    assert refund["amount"] == 2 * 321875
    row = db.session.scalar(select(Refund))
    assert row.status == "succeeded"
    assert row.stripe_id == refund["id"]
    assert row.reason == "late_payment"
    assert stripe_fake.refund_keys == [f"refund-{row.id}"]
    # The payer is told, in Danish.
    (mail,) = outbox("payment_refunded_no_place")
    assert mail.to_address == "hanne@aarhus.dk"
    assert "6.437,50" in mail.body_text
    assert order.reference in mail.subject
    assert mail.language == "da"
    assert outbox("order_confirmation") == [] or all(
        m.to_address != "hanne@aarhus.dk" for m in outbox("order_confirmation")
    )

    # The success page says what happened, and a repeat refunds nothing more.
    page = client.get(f"/pay/{session['id']}/done").get_data(as_text=True)
    assert 'data-state="refunded"' in page
    assert deliver(client, make_event("checkout.session.completed", paid)).json["outcome"] == (
        "unchanged"
    )
    assert len(stripe_fake.refunds) == 1


def test_the_refund_mail_is_in_english_for_an_english_booker(client, small_edition, stripe_fake):
    client.get(f"/e/{small_edition.slug}?lang=en")
    _order, session = start_card_booking(client, small_edition, stripe_fake, count=1)
    expire_stale_checkouts(now=utcnow() + timedelta(minutes=21))
    fill_the_rest(small_edition)
    deliver(client, make_event("checkout.session.completed", stripe_fake.pay(session["id"])))

    (mail,) = outbox("payment_refunded_no_place")
    assert mail.subject.startswith("No place was left")
    assert "DKK\xa03,218.75" in mail.body_text
    assert "<html" in mail.body_html


def test_a_refund_that_fails_is_retried(client, small_edition, stripe_fake):
    _order, session = start_card_booking(client, small_edition, stripe_fake, count=1)
    expire_stale_checkouts(now=utcnow() + timedelta(minutes=21))
    fill_the_rest(small_edition)
    stripe_fake.refunds_fail = 1
    deliver(client, make_event("checkout.session.completed", stripe_fake.pay(session["id"])))

    refund = db.session.scalar(select(Refund))
    assert refund.status == "failed"
    assert refund.last_error
    assert stripe_fake.refunds == []

    run = send_pending_refunds()
    assert (run.sent, run.failed) == (1, 0)
    db.session.expire_all()
    assert db.session.scalar(select(Refund)).status == "succeeded"
    assert len(stripe_fake.refunds) == 1
    assert send_pending_refunds().sent == 0


def test_a_webhook_sends_only_its_own_orders_refund(client, small_edition, stripe_fake):
    first, first_session = start_card_booking(client, small_edition, stripe_fake, count=1)
    second, second_session = start_card_booking(client, small_edition, stripe_fake, count=1)
    expire_stale_checkouts(now=utcnow() + timedelta(minutes=21))
    fill_the_rest(small_edition)
    stripe_fake.refunds_fail = 1  # Stripe has a hiccup during the first refund
    deliver(client, make_event("checkout.session.completed", stripe_fake.pay(first_session["id"])))
    deliver(client, make_event("checkout.session.completed", stripe_fake.pay(second_session["id"])))

    db.session.expire_all()
    status = {r.order_id: r.status for r in db.session.scalars(select(Refund))}
    # The first order's failed refund waits for the worker's retry.
    assert status == {first.id: "failed", second.id: "succeeded"}
    assert len(stripe_fake.refunds) == 1


def test_a_paid_amount_other_than_the_total_is_refunded_and_nothing_confirmed(
    client, edition, stripe_fake
):
    order, session = start_card_booking(client, edition, stripe_fake, count=2)
    paid = dict(stripe_fake.pay(session["id"]), amount_total=100)

    response = deliver(client, make_event("checkout.session.completed", paid))

    assert response.json["outcome"] == "refunded_wrong_amount"
    order = order_by_reference(order.reference)
    assert order.status == "expired"
    assert taken(edition) == 0
    assert [r["amount"] for r in stripe_fake.refunds] == [100]
    assert invoice_for_order(order) is None


def test_async_payment_waits_then_confirms_or_releases(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    pending = stripe_fake.pay(session["id"], payment_status="unpaid")

    assert deliver(client, make_event("checkout.session.completed", pending)).json["outcome"] == (
        "waiting"
    )
    assert order_by_reference(order.reference).status == "pending_payment"

    succeeded = dict(pending, payment_status="paid")
    response = deliver(client, make_event("checkout.session.async_payment_succeeded", succeeded))
    assert response.json["outcome"] == "confirmed"

    other, other_session = start_card_booking(
        client, edition, stripe_fake, booker_email="anden@aarhus.dk"
    )
    failed = stripe_fake.pay(other_session["id"], payment_status="unpaid")
    response = deliver(client, make_event("checkout.session.async_payment_failed", failed))
    assert response.json["outcome"] == "released"
    assert order_by_reference(other.reference).status == "expired"
    assert taken(edition) == 1


def test_unknown_events_are_recorded_and_answered(client, edition, stripe_fake):
    event = make_event("payment_intent.created", {"id": "pi_123", "object": "payment_intent"})
    response = deliver(client, event)
    assert response.status_code == 200
    assert response.json["outcome"] == "ignored"
    assert db.session.get(StripeEvent, event["id"]).type == "payment_intent.created"


def test_a_session_that_is_not_ours_is_answered_and_ignored(client, edition, stripe_fake):
    foreign = {"id": "cs_test_other", "object": "checkout.session", "status": "complete"}
    response = deliver(client, make_event("checkout.session.completed", foreign))
    assert response.status_code == 200
    assert response.json["outcome"] == "unknown"


# --- forged and stale ----------------------------------------------------------------


def _post(client, payload: str, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/payments/stripe/webhook", data=payload, headers=headers)


def _refused_without_effect(client, edition, order, response) -> None:
    assert response.status_code == 400
    assert events_recorded() == 0
    assert order_by_reference(order.reference).status == "pending_payment"
    assert outbox() == []
    assert taken(edition) == 1


def test_forged_signature_is_refused(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    event = make_event("checkout.session.completed", stripe_fake.pay(session["id"]))
    response = deliver(client, event, secret="whsec_someone_else")
    _refused_without_effect(client, edition, order, response)


def test_tampered_payload_is_refused(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    genuine = json.dumps(make_event("checkout.session.expired", dict(session, status="expired")))
    signature = signature_header(genuine)
    tampered = genuine.replace('"expired"', '"complete"')
    _refused_without_effect(client, edition, order, _post(client, tampered, signature))


def test_stale_signature_is_refused(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    event = make_event("checkout.session.completed", stripe_fake.pay(session["id"]))
    # Signed correctly, but ten minutes ago: a replay.
    response = deliver(client, event, at=int(time.time()) - 600)
    _refused_without_effect(client, edition, order, response)


def test_missing_signature_and_garbage_are_refused(client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    payload = json.dumps(make_event("checkout.session.completed", stripe_fake.pay(session["id"])))
    _refused_without_effect(client, edition, order, _post(client, payload, None))
    _refused_without_effect(client, edition, order, _post(client, payload, "t=1,v1=abc"))
    _refused_without_effect(
        client, edition, order, _post(client, "not json", signature_header("not json"))
    )


def test_without_a_webhook_secret_every_webhook_is_refused(app, client, edition, stripe_fake):
    order, session = start_card_booking(client, edition, stripe_fake)
    app.config["STRIPE_WEBHOOK_SECRET"] = None
    event = make_event("checkout.session.completed", stripe_fake.pay(session["id"]))
    _refused_without_effect(client, edition, order, deliver(client, event, secret=WEBHOOK_SECRET))


# --- organiser cancellations of card orders --------------------------------------------


def test_cancelling_a_card_order_refunds_each_credit_note_and_never_more(
    client, edition, stripe_fake
):
    order, session = start_card_booking(client, edition, stripe_fake, count=3)
    paid = stripe_fake.pay(session["id"])
    deliver(client, make_event("checkout.session.completed", paid))
    order = order_by_reference(order.reference)

    one = cancel_attendee(order.attendees[0], actor="staff:1", reason="Sick")
    db.session.commit()
    send_pending_refunds(order_id=order.id)
    assert [r["amount"] for r in stripe_fake.refunds] == [321875]
    assert order_by_reference(order.reference).payment_status == "paid"

    rest = cancel_order(order_by_reference(order.reference), actor="staff:1", reason="Gone")
    db.session.commit()
    send_pending_refunds(order_id=order.id)
    assert [r["amount"] for r in stripe_fake.refunds] == [321875, 2 * 321875]
    assert {r["payment_intent"] for r in stripe_fake.refunds} == {paid["payment_intent"]}
    refunds = db.session.scalars(select(Refund).order_by(Refund.id)).all()
    assert [r.credit_note_id for r in refunds] == [one.credit_note.id, rest.credit_note.id]
    assert all(r.status == "succeeded" and r.reason == "cancelled" for r in refunds)
    assert order_by_reference(order.reference).payment_status == "refunded"

    # Everything paid has gone back: a further refund is refused.
    with pytest.raises(DomainError):
        request_refund(order_by_reference(order.reference), 1, reason="cancelled")
    db.session.rollback()

    # The payment's success page does not claim the places were gone.
    page = client.get(f"/pay/{session['id']}/done").get_data(as_text=True)
    assert 'data-state="cancelled"' in page
    assert "annulleret af arrangøren" in page
