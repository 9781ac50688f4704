"""Where Stripe Checkout sends the booker back to, and Stripe's webhook.

The success and cancel pages are found only by what their links carry (the
Stripe session id, a signed order reference), never by anything guessable.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from sqlalchemy.exc import IntegrityError

from conference.core.db import db
from conference.core.i18n import current_language
from conference.core.manage_links import speak_language_of as _speak_language_of
from conference.core.security import csrf, limiter
from conference.payments import services
from conference.payments.models import CheckoutSession, CheckoutStatus
from conference.payments.services import CheckoutState, InvalidWebhook, PaymentUnavailable
from conference.registration.models import Order, OrderStatus

bp = Blueprint("payments", __name__)

#: Seconds before the "we are confirming your payment" page looks again.
REFRESH_SECONDS = 5


def _page_limit() -> str:
    return current_app.config["MANAGE_RATE_LIMIT"]


def _send_refunds(order: Order) -> None:
    # After the commit that decided them; a Stripe failure is retried by the worker.
    try:
        services.send_pending_refunds(order_id=order.id)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("Sending the refund of %s failed", order.reference)


def _status_page(
    order: Order, checkout: CheckoutSession | None, state: CheckoutState, *, cancelled: bool
) -> Response:
    edition = order.edition
    response = Response(
        render_template(
            "payments/status.html",
            order=order,
            edition=edition,
            checkout=checkout,
            state=state.value,
            cancelled=cancelled,
            places=len(order.attendees),
            refresh_seconds=REFRESH_SECONDS,
            register_url=url_for("registration.register", slug=edition.slug),
            language=current_language(),
        )
    )
    # Personal data behind an unguessable link: keep it out of caches and indexes.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    if state is CheckoutState.PROCESSING and not cancelled:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@bp.get("/pay/<stripe_id>/done")
@limiter.limit(_page_limit)
def checkout_done(stripe_id: str):
    """Stripe's success link: say what happened, asking Stripe if the webhook is late."""
    checkout = services.checkout_by_stripe_id(stripe_id)
    order = checkout.order
    _speak_language_of(order.language)
    if checkout.status == CheckoutStatus.OPEN and services.card_payments_enabled():
        try:
            outcome = services.refresh_checkout(checkout)
            db.session.commit()
        except PaymentUnavailable:
            # Stripe is unreachable: the page says we are confirming, and looks again.
            db.session.rollback()
        else:
            if outcome.refunds:
                _send_refunds(order)
    return _status_page(order, checkout, services.checkout_state(checkout), cancelled=False)


@bp.get("/pay/cancel/<token>")
@limiter.limit(_page_limit)
def checkout_cancelled(token: str):
    """Stripe's cancel link: end the session and give the held places back."""
    order = services.order_for_cancel_token(token)
    _speak_language_of(order.language)
    checkout = services.latest_checkout(order)
    if order.status == OrderStatus.PENDING_PAYMENT:
        outcome = services.end_checkout(checkout, order, reason="cancelled")
        db.session.commit()
        if outcome.refunds:
            _send_refunds(order)
    if checkout is not None:
        state = services.checkout_state(checkout)
    elif order.status == OrderStatus.PENDING_PAYMENT:
        state = CheckoutState.PROCESSING
    else:
        state = CheckoutState.RELEASED
    return _status_page(order, checkout, state, cancelled=True)


@bp.post("/payments/stripe/webhook")
@limiter.exempt
def stripe_webhook():
    """Stripe's events, verified by signature and applied exactly once."""
    try:
        event = services.verify_webhook(request.get_data(), request.headers.get("Stripe-Signature"))
    except InvalidWebhook as error:
        current_app.logger.warning("Refused a Stripe webhook: %s", error)
        return jsonify(error="invalid signature"), 400
    try:
        outcome = services.process_event(event)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if not services.event_recorded(event["id"]):
            # Not a second delivery of this event: answer 500 so Stripe sends it again.
            raise
        outcome = "duplicate"  # a concurrent delivery of the same event committed first
    order_id = services.order_id_of_event(event)
    if outcome.startswith("refunded") and order_id is not None:
        try:
            # Only this order's: after an outage, one webhook must not send every refund.
            services.send_pending_refunds(order_id=order_id)
        except Exception:
            db.session.rollback()
            current_app.logger.exception("Sending refunds after event %s failed", event["id"])
    return jsonify(received=True, outcome=outcome)


# Stripe signs its requests; a CSRF token is neither possible nor needed.
csrf.exempt(stripe_webhook)
