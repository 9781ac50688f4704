"""Card payment through Stripe Checkout: sessions, webhooks, refunds, reconciliation.

A card order's places are claimed and held when it is placed (see
``conference.registration.services.place_order``); this module opens a
Checkout Session for it and turns what Stripe reports into the order's fate:
confirmed, released, or refunded because the places were gone.

Whatever tells us about a session (the webhook, the success page asking
Stripe, the hold-expiry worker, ``payments reconcile``) goes through
``apply_checkout_session``, so every path ends the same way whatever the
order of arrival. A payment is taken exactly once per session: a conditional
write on the session row decides which of two concurrent processors does it.

Stripe is only ever called outside the database transactions that lock
places, and refunds are sent after the transaction that decided them has
committed (``send_pending_refunds``), so a slow Stripe never holds a lock.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import stripe
from flask import Flask, current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from conference.core.db import db, utcnow
from conference.core.errors import DomainError, NotFound
from conference.core.money import vat_of
from conference.core.services import record_audit
from conference.core.urls import public_url
from conference.mail.services import queue_mail
from conference.payments.models import (
    CheckoutSession,
    CheckoutStatus,
    Refund,
    RefundStatus,
    StripeEvent,
)
from conference.registration.models import Order, OrderStatus, PaymentStatus
from conference.registration.services import (
    ConfirmOutcome,
    card_orders_to_expire,
    confirm_card_payment,
    release_hold,
)

log = logging.getLogger(__name__)

#: Stripe refuses a Checkout Session that expires sooner than 30 minutes after it
#: is created; one more minute covers the clock difference between us and Stripe.
MIN_SESSION_MINUTES = 31
#: Stripe keeps an idempotency key for 24 hours: a failed refund is retried with
#: its key only within that window, so a retry can never refund a second time.
REFUND_RETRY_WINDOW = timedelta(hours=23)

_SUCCESS_PLACEHOLDER = "CHECKOUT-SESSION-ID"


# --- configuration ----------------------------------------------------------------


def init_payments(app: Flask) -> None:
    """Check the Stripe settings at start-up; the client itself is made on first use."""
    config = app.config
    if config.get("STRIPE_SECRET_KEY") and not config.get("STRIPE_WEBHOOK_SECRET"):
        app.logger.warning(
            "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: webhooks will be "
            "refused and card payments confirmed only by the success page and "
            "`payments reconcile`."
        )


def card_payments_enabled() -> bool:
    """Card payment is offered only when a Stripe secret key is configured."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def stripe_client() -> stripe.StripeClient:
    """The app's Stripe client, talking to STRIPE_API_BASE when set (tests, local fakes)."""
    config = current_app.config
    settings = (
        config.get("STRIPE_SECRET_KEY"),
        config.get("STRIPE_API_BASE"),
        config.get("STRIPE_MAX_NETWORK_RETRIES", 2),
        config.get("STRIPE_TIMEOUT_SECONDS", 20),
    )
    cached = current_app.extensions.get("stripe_client")
    if cached is not None and cached[0] == settings:
        return cached[1]
    key, api_base, retries, timeout = settings
    if not key:
        raise PaymentUnavailable(_("Card payment is not available."))
    client = stripe.StripeClient(
        key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=retries,
        # A short connect timeout: the booker is waiting for the redirect.
        http_client=stripe.RequestsClient(timeout=(5, timeout)),
    )
    current_app.extensions["stripe_client"] = (settings, client)
    return client


class PaymentUnavailable(DomainError):
    """Stripe could not be reached or refused; nothing was charged."""


def card_payment_unavailable_message() -> str:
    return _(
        "Card payment is not available right now, so nothing was registered. "
        "Try again in a moment, or choose to pay by invoice."
    )


def _before_calling_stripe() -> None:
    """End the current transaction: a call to Stripe can take seconds, and no lock
    may wait for it (on SQLite every transaction holds the database's one write lock).

    Only ever reached with reads, or with changes that are complete on their own.
    """
    db.session.commit()


def _timestamp(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def _from_timestamp(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)


def _as_dict(obj) -> dict:
    return obj.to_dict() if isinstance(obj, stripe.StripeObject) else dict(obj)


def _id_of(value) -> str | None:
    """An id from a field Stripe gives either as an id or as the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value.get("id")


# --- starting a payment -------------------------------------------------------------


def _cancel_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="checkout-cancel")


def cancel_token(order: Order) -> str:
    """The unguessable part of an order's cancel link (signed order reference).

    Stripe fills in the session id only in the success link, and the session
    does not exist yet when its cancel link is made: the link names the order,
    signed with the app's key so no one can cancel another booker's payment.
    """
    return _cancel_serializer().dumps(order.reference)


def order_for_cancel_token(token: str) -> Order:
    """The card order a cancel link is for; NotFound for anything else."""
    try:
        reference = _cancel_serializer().loads(token)
    except BadSignature:
        reference = None
    order = None
    if isinstance(reference, str):
        order = db.session.scalar(select(Order).where(Order.reference == reference))
    if order is None or order.payment_method != "card":
        raise NotFound(_("This link is not valid."))
    return order


@dataclass(frozen=True)
class CheckoutLine:
    name: str
    unit_amount_ore: int
    quantity: int


def checkout_lines(order: Order) -> list[CheckoutLine]:
    """One line per ticket type, with the unit price incl. VAT, adding up to the order's total.

    VAT is computed on the order's total, so the gross lines are made to add up
    to ``order.total_gross_ore`` to the øre (the last line takes the rounding
    difference). A line whose gross amount does not divide evenly by its
    quantity is sent as one line of "n × ticket" with quantity 1, so Stripe
    charges exactly what the invoice says.
    """
    language = order.language
    groups: OrderedDict[int, list] = OrderedDict()
    for attendee in order.active_attendees:
        group = groups.setdefault(attendee.ticket_type_id, [attendee.ticket_type, 0, 0, 0])
        group[1] += 1
        group[2] += attendee.unit_price_net_ore
        group[3] = attendee.vat_percent
    grosses = [net + vat_of(net, vat_percent) for _type, _n, net, vat_percent in groups.values()]
    if grosses:
        grosses[-1] += order.total_gross_ore - sum(grosses)
    event = order.edition.display_name(language)
    lines = []
    for (ticket_type, quantity, _net, _vat), gross in zip(groups.values(), grosses, strict=True):
        name = f"{ticket_type.display_name(language)} · {event}"
        if gross % quantity == 0:
            lines.append(CheckoutLine(name, gross // quantity, quantity))
        else:
            lines.append(CheckoutLine(f"{quantity} × {name}", gross, 1))
    return lines


def checkout_params(order: Order, *, now: datetime | None = None) -> dict:
    """The Checkout Session Stripe is asked to create for a held card order."""
    now = now or utcnow()
    hold_end = order.hold_expires_at or now
    expires_at = max(hold_end, now + timedelta(minutes=MIN_SESSION_MINUTES))
    success_url = public_url("payments.checkout_done", stripe_id=_SUCCESS_PLACEHOLDER).replace(
        _SUCCESS_PLACEHOLDER, "{CHECKOUT_SESSION_ID}"
    )
    metadata = {"order_reference": order.reference}
    return {
        "mode": "payment",
        "currency": "dkk",
        "payment_method_types": ["card"],
        "line_items": [
            {
                "price_data": {
                    "currency": "dkk",
                    "unit_amount": line.unit_amount_ore,
                    "product_data": {"name": line.name},
                },
                "quantity": line.quantity,
            }
            for line in checkout_lines(order)
        ],
        "customer_email": order.booker_email,
        "client_reference_id": order.reference,
        "metadata": metadata,
        "payment_intent_data": {
            "description": f"{order.reference} {order.edition.display_name(order.language)}",
            "metadata": metadata,
        },
        "expires_at": _timestamp(expires_at),
        "success_url": success_url,
        "cancel_url": public_url("payments.checkout_cancelled", token=cancel_token(order)),
        "locale": "da" if order.language == "da" else "en",
    }


def begin_card_payment(order: Order, *, now: datetime | None = None) -> CheckoutSession:
    """Open a Stripe Checkout Session for a held card order and record it.

    Call after the order's places were committed (Stripe is slow; the places'
    lock must not wait for it): the transaction is ended before Stripe is
    called, and the caller commits the new one. If Stripe cannot be reached or
    refuses, the hold is released in that transaction and PaymentUnavailable
    says so in the booker's language.
    """
    now = now or utcnow()
    params = checkout_params(order, now=now)
    _before_calling_stripe()
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": f"checkout-{order.reference}"}
        )
    except stripe.StripeError as error:
        log.warning("Stripe refused a Checkout Session for %s: %s", order.reference, error)
        release_hold(order, now=now, reason="checkout_unavailable")
        raise PaymentUnavailable(card_payment_unavailable_message()) from None
    data = _as_dict(session)
    checkout = CheckoutSession(
        stripe_id=data["id"],
        order_id=order.id,
        status=CheckoutStatus.OPEN,
        amount_total_ore=int(data.get("amount_total") or order.total_gross_ore),
        url=data.get("url") or "",
        payment_intent_id=_id_of(data.get("payment_intent")),
        created_at=now,
        expires_at=_from_timestamp(data.get("expires_at")) or order.hold_expires_at or now,
    )
    db.session.add(checkout)
    db.session.flush()
    record_audit("booker", "checkout.started", "order", order.id, session=checkout.stripe_id)
    return checkout


# --- what Stripe tells us ------------------------------------------------------------


class PaymentOutcome(enum.StrEnum):
    """What processing a report about a Checkout Session did."""

    CONFIRMED = "confirmed"
    #: Paid after the hold ran out, and the places were still free.
    LATE_CONFIRMED = "late_confirmed"
    #: Paid after the hold ran out and the places were gone: refunded, payer told.
    REFUNDED_NO_PLACES = "refunded_no_places"
    #: Paid a different amount than the order's total: refunded, places released.
    REFUNDED_WRONG_AMOUNT = "refunded_wrong_amount"
    #: The order was already paid through another session: this payment refunded.
    REFUNDED_DUPLICATE = "refunded_duplicate"
    RELEASED = "released"
    #: Not paid yet (open, or an asynchronous payment under way).
    WAITING = "waiting"
    UNCHANGED = "unchanged"
    #: Not a session of ours.
    UNKNOWN = "unknown"

    @property
    def refunds(self) -> bool:
        """A refund was recorded: send it once the transaction has committed."""
        return self.value.startswith("refunded")


def _find_checkout(data: dict) -> CheckoutSession | None:
    """Our row for a Stripe session; made from the order reference if it is missing.

    A row can be missing when Stripe created the session but our write after
    it failed; the session still names the order it pays for.
    """
    checkout = db.session.scalar(
        select(CheckoutSession).where(CheckoutSession.stripe_id == data["id"])
    )
    if checkout is not None:
        return checkout
    reference = data.get("client_reference_id") or (data.get("metadata") or {}).get(
        "order_reference"
    )
    order = (
        db.session.scalar(select(Order).where(Order.reference == reference)) if reference else None
    )
    if order is None or order.payment_method != "card":
        return None
    checkout = CheckoutSession(
        stripe_id=data["id"],
        order_id=order.id,
        status=CheckoutStatus.OPEN,
        amount_total_ore=int(data.get("amount_total") or 0),
        url=data.get("url") or "",
        expires_at=_from_timestamp(data.get("expires_at")) or utcnow(),
    )
    db.session.add(checkout)
    db.session.flush()
    return checkout


def _move_checkout(checkout: CheckoutSession, new: str, *, unless: str, **values) -> bool:
    """Set a session's status unless it already has ``unless``; True if this call did.

    One conditional write: of two processes reporting the same payment, the
    second waits for the first's row lock, then finds it done.
    """
    result = db.session.execute(
        update(CheckoutSession)
        .where(CheckoutSession.id == checkout.id, CheckoutSession.status != unless)
        .values(status=new, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(checkout)
    return result.rowcount == 1


def apply_checkout_session(
    data: dict,
    *,
    paid_at: datetime | None = None,
    now: datetime | None = None,
    reason: str = "expired",
) -> PaymentOutcome:
    """Bring our records in line with a Checkout Session as Stripe reports it.

    ``data``: the session object (from a webhook event or asked from Stripe).
    Paid → the order is confirmed (late if its hold ran out; refunded if the
    places are gone); expired → the hold is released unless it was paid;
    open or paid asynchronously later → nothing yet. ``reason``: why an
    expired session ended, for the audit log. Runs in the caller's
    transaction and calls nobody outside it.
    """
    now = now or utcnow()
    checkout = _find_checkout(data)
    if checkout is None:
        return PaymentOutcome.UNKNOWN
    status = data.get("status")
    if status == "complete" and data.get("payment_status") in ("paid", "no_payment_required"):
        return _take_payment(checkout, data, paid_at=paid_at or now, now=now)
    if status == "expired":
        return _checkout_ended(checkout, reason=reason, now=now)
    if status == "complete" and data.get("payment_intent"):
        # An asynchronous payment method: the money may still come (or fail).
        checkout.payment_intent_id = _id_of(data.get("payment_intent"))
    return PaymentOutcome.WAITING


def apply_failed_payment(data: dict, *, now: datetime | None = None) -> PaymentOutcome:
    """An asynchronous payment failed: the places go back unless it was paid after all."""
    checkout = _find_checkout(data)
    if checkout is None:
        return PaymentOutcome.UNKNOWN
    return _checkout_ended(checkout, reason="payment_failed", now=now or utcnow())


def _checkout_ended(checkout: CheckoutSession, *, reason: str, now: datetime) -> PaymentOutcome:
    if checkout.status == CheckoutStatus.COMPLETE:
        return PaymentOutcome.UNCHANGED
    if not _move_checkout(checkout, CheckoutStatus.EXPIRED, unless=CheckoutStatus.COMPLETE):
        return PaymentOutcome.UNCHANGED  # paid meanwhile: the payment wins
    if release_hold(checkout.order, now=now, reason=reason):
        return PaymentOutcome.RELEASED
    return PaymentOutcome.UNCHANGED


def _take_payment(
    checkout: CheckoutSession, data: dict, *, paid_at: datetime, now: datetime
) -> PaymentOutcome:
    payment_intent = _id_of(data.get("payment_intent"))
    amount = int(data.get("amount_total") or 0)
    if not _move_checkout(
        checkout,
        CheckoutStatus.COMPLETE,
        unless=CheckoutStatus.COMPLETE,
        completed_at=now,
        payment_intent_id=payment_intent,
        amount_total_ore=amount,
    ):
        return PaymentOutcome.UNCHANGED
    order = checkout.order
    if (data.get("currency") or "").lower() != "dkk" or amount != order.total_gross_ore:
        log.error(
            "Checkout %s for %s paid %s %s, the order's total is %s DKK øre; refunding",
            checkout.stripe_id,
            order.reference,
            amount,
            data.get("currency"),
            order.total_gross_ore,
        )
        record_audit(
            "stripe",
            "payment.wrong_amount",
            "order",
            order.id,
            paid=amount,
            expected=order.total_gross_ore,
        )
        release_hold(order, now=now, reason="wrong_amount")
        if amount:
            request_refund(order, amount, reason="wrong_amount", payment_intent_id=payment_intent)
        return PaymentOutcome.REFUNDED_WRONG_AMOUNT

    outcome = confirm_card_payment(order, amount_ore=amount, paid_at=paid_at, now=now)
    if outcome is ConfirmOutcome.CONFIRMED:
        return PaymentOutcome.CONFIRMED
    if outcome is ConfirmOutcome.LATE_CONFIRMED:
        return PaymentOutcome.LATE_CONFIRMED
    if outcome is ConfirmOutcome.ALREADY_CONFIRMED:
        # This session was not taken before, yet the order is paid: paid twice.
        request_refund(order, amount, reason="duplicate", payment_intent_id=payment_intent)
        return PaymentOutcome.REFUNDED_DUPLICATE
    refund = request_refund(order, amount, reason="late_payment", payment_intent_id=payment_intent)
    edition = order.edition
    queue_mail(
        "payment_refunded_no_place",
        order.booker_email,
        "payment_refunded_no_place",
        order.language,
        order_id=order.id,
        order=order,
        edition=edition,
        amount_ore=refund.amount_ore,
        event_url=public_url("events.edition", slug=edition.slug),
    )
    return PaymentOutcome.REFUNDED_NO_PLACES


# --- webhooks -----------------------------------------------------------------------


class InvalidWebhook(Exception):
    """The request is not a genuine, fresh Stripe event."""


def verify_webhook(payload: bytes, signature: str | None) -> dict:
    """The event a webhook request carries, after checking Stripe's signature.

    A missing, forged or stale (older than 5 minutes) signature, or a body that
    is not an event, raises InvalidWebhook.
    """
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret or not signature or not card_payments_enabled():
        raise InvalidWebhook("webhooks are not configured or the request is not signed")
    try:
        event = stripe_client().construct_event(payload, signature, secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise InvalidWebhook(str(error)) from None
    data = event.to_dict()
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise InvalidWebhook("not an event")
    return data


def process_event(event: dict, *, now: datetime | None = None) -> str:
    """Apply a verified Stripe event exactly once, in the caller's transaction.

    The event id is recorded in the same transaction as its effects; a second
    delivery (also one racing the first) finds it there and changes nothing.
    Returns what was done ("duplicate" for a repeat).
    """
    now = now or utcnow()
    if event_recorded(event["id"]):
        return "duplicate"
    record = StripeEvent(id=event["id"], type=event["type"][:100], received_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:
        # The same event is being (or was just) processed by another delivery.
        return "duplicate"
    kind = event["type"]
    obj = (event.get("data") or {}).get("object") or {}
    paid_at = _from_timestamp(event.get("created")) or now
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        outcome = "ignored"
    elif kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        outcome = str(apply_checkout_session(obj, paid_at=paid_at, now=now))
    elif kind == "checkout.session.expired":
        outcome = str(apply_checkout_session(obj, now=now))
    elif kind == "checkout.session.async_payment_failed":
        outcome = str(apply_failed_payment(obj, now=now))
    else:
        outcome = "ignored"
    record.outcome = outcome
    return outcome


def event_recorded(event_id: str) -> bool:
    """Whether a Stripe event has been applied (its id is stored)."""
    return db.session.get(StripeEvent, event_id) is not None


def order_id_of_event(event: dict) -> int | None:
    """The order whose Checkout Session a Stripe event is about, if it is one of ours."""
    obj = (event.get("data") or {}).get("object") or {}
    stripe_id = obj.get("id") if isinstance(obj, dict) else None
    if not isinstance(stripe_id, str):
        return None
    return db.session.scalar(
        select(CheckoutSession.order_id).where(CheckoutSession.stripe_id == stripe_id)
    )


# --- asking Stripe ------------------------------------------------------------------


def _retrieve(stripe_id: str) -> dict:
    return _as_dict(stripe_client().v1.checkout.sessions.retrieve(stripe_id))


def refresh_checkout(checkout: CheckoutSession, *, now: datetime | None = None) -> PaymentOutcome:
    """Ask Stripe about a session we think is open and apply what it says.

    For the success page (the webhook may not have arrived yet) and for
    reconciliation. Ends the current transaction before asking; the caller
    commits what the answer changed. Raises PaymentUnavailable if Stripe
    cannot be asked.
    """
    stripe_id = checkout.stripe_id
    _before_calling_stripe()
    try:
        data = _retrieve(stripe_id)
    except stripe.StripeError as error:
        raise PaymentUnavailable(_("We could not reach the payment provider.")) from error
    return apply_checkout_session(data, now=now)


def end_checkout(
    checkout: CheckoutSession | None, order: Order, *, reason: str, now: datetime | None = None
) -> PaymentOutcome:
    """Stop a card payment: expire its Stripe session, then release the held places.

    If Stripe says the session was paid after all, the payment is applied
    instead (and the places stay taken). If Stripe cannot be reached the hold
    is released anyway: the places must go back on time, and a payment that
    still arrives is a late payment (confirmed if places are free, else refunded).
    Ends the current transaction before calling Stripe; the caller commits.
    """
    now = now or utcnow()
    outcome = PaymentOutcome.UNCHANGED
    if checkout is not None and checkout.status == CheckoutStatus.OPEN and card_payments_enabled():
        stripe_id = checkout.stripe_id
        _before_calling_stripe()
        try:
            data = _as_dict(stripe_client().v1.checkout.sessions.expire(stripe_id))
        except stripe.InvalidRequestError:
            # Not open any more at Stripe: paid, or expired already. Ask which.
            try:
                data = _retrieve(stripe_id)
            except stripe.StripeError as error:
                log.warning("Could not ask Stripe about %s: %s", stripe_id, error)
                data = None
        except stripe.StripeError as error:
            log.warning("Could not expire %s at Stripe: %s", stripe_id, error)
            data = None
        if data is not None:
            outcome = apply_checkout_session(data, now=now, reason=reason)
    if release_hold(order, now=now, reason=reason):
        outcome = PaymentOutcome.RELEASED
    return outcome


def latest_checkout(order: Order) -> CheckoutSession | None:
    return db.session.scalar(
        select(CheckoutSession)
        .where(CheckoutSession.order_id == order.id)
        .order_by(CheckoutSession.id.desc())
        .limit(1)
    )


def checkout_by_stripe_id(stripe_id: str) -> CheckoutSession:
    """The session a success link names; NotFound for anything else."""
    checkout = None
    if stripe_id and len(stripe_id) <= 255:
        checkout = db.session.scalar(
            select(CheckoutSession).where(CheckoutSession.stripe_id == stripe_id)
        )
    if checkout is None:
        raise NotFound(_("This link is not valid."))
    return checkout


def expire_stale_checkouts(now: datetime | None = None) -> int:
    """Release card holds that ran out, expiring their Stripe sessions; returns how many.

    For the worker: each order is its own transaction (committed here), so
    one that fails does not keep the others' places held.
    """
    now = now or utcnow()
    released = 0
    for order_id in [order.id for order in card_orders_to_expire(now)]:
        order = db.session.get(Order, order_id)
        try:
            outcome = end_checkout(latest_checkout(order), order, reason="expired", now=now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("Releasing the hold of order %s failed", order_id)
            continue
        if outcome is PaymentOutcome.RELEASED:
            released += 1
    return released


# --- refunds ------------------------------------------------------------------------


def request_refund(
    order: Order,
    amount_ore: int,
    *,
    reason: str,
    credit_note=None,
    payment_intent_id: str | None = None,
) -> Refund:
    """Record a refund of a card payment, sent to Stripe after the transaction commits.

    ``reason``: "late_payment", "cancelled" (an organiser's cancellation, with
    its credit note), "duplicate" or "wrong_amount". The money comes from the
    order's (latest) paid session unless ``payment_intent_id`` names one; more
    than was paid and not yet refunded is refused. Call
    ``send_pending_refunds()`` after committing; the worker retries failures.
    """
    paid = {
        checkout.payment_intent_id: checkout.amount_total_ore
        for checkout in db.session.scalars(
            select(CheckoutSession)
            .where(
                CheckoutSession.order_id == order.id,
                CheckoutSession.status == CheckoutStatus.COMPLETE,
                CheckoutSession.payment_intent_id.is_not(None),
            )
            .order_by(CheckoutSession.id)
        )
    }
    if payment_intent_id is None and paid:
        payment_intent_id = list(paid)[-1]
    if payment_intent_id not in paid:
        raise DomainError(_("This order was not paid by card, so there is nothing to refund."))
    refunded = _refunded_by_intent(order)
    left = paid[payment_intent_id] - refunded.get(payment_intent_id, 0)
    if amount_ore <= 0 or amount_ore > left:
        raise DomainError(_("A card refund can be at most what was paid and not yet refunded."))
    refund = Refund(
        order_id=order.id,
        payment_intent_id=payment_intent_id,
        amount_ore=amount_ore,
        reason=reason,
        status=RefundStatus.PENDING,
        credit_note_id=credit_note.id if credit_note is not None else None,
    )
    db.session.add(refund)
    db.session.flush()
    if sum(refunded.values()) + amount_ore >= sum(paid.values()):
        order.payment_status = PaymentStatus.REFUNDED
    record_audit(
        "stripe" if reason in ("late_payment", "duplicate", "wrong_amount") else "organiser",
        "refund.requested",
        "order",
        order.id,
        refund=refund.id,
        amount_ore=amount_ore,
        reason=reason,
    )
    return refund


def _refunded_by_intent(order: Order) -> dict[str, int]:
    rows = db.session.execute(
        select(Refund.payment_intent_id, func.sum(Refund.amount_ore))
        .where(Refund.order_id == order.id)
        .group_by(Refund.payment_intent_id)
    )
    return {intent: int(total or 0) for intent, total in rows}


@dataclass
class RefundRun:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _stripe_refund_reason(reason: str) -> str:
    return "duplicate" if reason == "duplicate" else "requested_by_customer"


def send_pending_refunds(now: datetime | None = None, *, order_id: int | None = None) -> RefundRun:
    """Send recorded refunds to Stripe (and retry failed ones); commits after each.

    Call after the transaction that recorded them has committed: what the
    session holds is committed before each call to Stripe. Each refund goes
    with an idempotency key made from its id, so two senders at once, or a
    retry after a lost answer, refund only once. ``order_id``: only that
    order's (a page that just decided a refund).
    """
    now = now or utcnow()
    run = RefundRun()
    due = or_(
        Refund.status == RefundStatus.PENDING,
        (Refund.status == RefundStatus.FAILED) & (Refund.created_at >= now - REFUND_RETRY_WINDOW),
    )
    statement = select(Refund.id).where(due).order_by(Refund.id)
    if order_id is not None:
        statement = statement.where(Refund.order_id == order_id)
    for refund_id in list(db.session.scalars(statement)):
        refund = db.session.scalar(select(Refund).where(Refund.id == refund_id, due))
        if refund is None:
            continue  # another sender got there first
        reference = refund.order.reference
        params = {
            "payment_intent": refund.payment_intent_id,
            "amount": refund.amount_ore,
            "reason": _stripe_refund_reason(refund.reason),
            "metadata": {
                "order_reference": reference,
                "refund_id": str(refund.id),
                "reason": refund.reason,
            },
        }
        _before_calling_stripe()
        try:
            result = _as_dict(
                stripe_client().v1.refunds.create(
                    params=params, options={"idempotency_key": f"refund-{refund_id}"}
                )
            )
        except (stripe.StripeError, PaymentUnavailable) as error:
            log.warning("Refund %s failed: %s", refund_id, error)
            _refund_failed(refund_id, str(error))
            run.failed += 1
            run.errors.append(f"refund {refund_id} ({reference}): {error}")
        else:
            if result.get("status") in ("failed", "canceled"):
                _refund_failed(refund_id, f"Stripe refund status {result.get('status')}")
                run.failed += 1
            else:
                # "pending" at Stripe means accepted and on its way to the card.
                db.session.execute(
                    update(Refund)
                    .where(Refund.id == refund_id)
                    .values(
                        status=RefundStatus.SUCCEEDED, stripe_id=result.get("id"), last_error=None
                    )
                )
                record_audit("stripe", "refund.sent", "refund", refund_id, order=reference)
                run.sent += 1
        db.session.commit()
    return run


def _refund_failed(refund_id: int, error: str) -> None:
    # Never over a success another sender recorded meanwhile (same key, same refund).
    db.session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status != RefundStatus.SUCCEEDED)
        .values(status=RefundStatus.FAILED, last_error=error[:2000])
    )


def refunds_needing_attention(now: datetime | None = None) -> list[Refund]:
    """Failed refunds past the retry window: a person must look at them in Stripe."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Refund)
            .where(
                Refund.status == RefundStatus.FAILED,
                Refund.created_at < now - REFUND_RETRY_WINDOW,
            )
            .order_by(Refund.id)
        )
    )


# --- reconciliation -----------------------------------------------------------------


@dataclass
class Reconciliation:
    checked: int = 0
    repaired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refunds: RefundRun = field(default_factory=RefundRun)
    attention: list[str] = field(default_factory=list)


def reconcile(now: datetime | None = None) -> Reconciliation:
    """Ask Stripe about every session we think is open and repair what a lost webhook left.

    Paid → confirmed (or refunded if the places are gone); expired → places
    released. Then pending and failed refunds are sent again. Commits per session.
    """
    now = now or utcnow()
    result = Reconciliation()
    ids = list(
        db.session.scalars(
            select(CheckoutSession.id)
            .where(CheckoutSession.status == CheckoutStatus.OPEN)
            .order_by(CheckoutSession.id)
        )
    )
    for checkout_id in ids:
        checkout = db.session.get(CheckoutSession, checkout_id)
        result.checked += 1
        try:
            outcome = refresh_checkout(checkout, now=now)
            db.session.commit()
        except Exception as error:
            db.session.rollback()
            result.errors.append(f"{checkout.stripe_id}: {error}")
            continue
        if outcome not in (PaymentOutcome.WAITING, PaymentOutcome.UNCHANGED):
            result.repaired.append(f"{checkout.stripe_id} {checkout.order.reference}: {outcome}")
    result.refunds = send_pending_refunds(now)
    result.attention = [
        f"refund {refund.id} ({refund.order.reference}, {refund.amount_ore} øre): "
        f"{refund.last_error}"
        for refund in refunds_needing_attention(now)
    ]
    return result


# --- what the booker sees -------------------------------------------------------------


class CheckoutState(enum.StrEnum):
    PAID = "paid"
    REFUNDED = "refunded"
    PROCESSING = "processing"
    RELEASED = "released"
    CANCELLED = "cancelled"  # paid and confirmed, later cancelled by an organiser


def checkout_state(checkout: CheckoutSession) -> CheckoutState:
    """How a card payment stands, in the terms the success and cancel pages use."""
    order = checkout.order
    if checkout.status == CheckoutStatus.COMPLETE:
        # Paid: the places are the booker's, the money went back because they
        # were gone, or an organiser cancelled the registration afterwards.
        if order.status == OrderStatus.CONFIRMED:
            return CheckoutState.PAID
        if order.status == OrderStatus.CANCELLED:
            return CheckoutState.CANCELLED
        return CheckoutState.REFUNDED
    if order.status == OrderStatus.PENDING_PAYMENT:
        return CheckoutState.PROCESSING
    return CheckoutState.RELEASED
