"""A Stripe fake at the network edge, and webhooks signed with Stripe's real scheme.

The stripe library is pointed at a local HTTP server (pytest-httpserver) by
STRIPE_API_BASE; the fake answers the few endpoints the app uses the way
Stripe documents them. Nothing inside the app is replaced.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time

import pytest
import requests
from werkzeug import Request, Response

from conference.core.db import db
from conference.payments.models import CheckoutSession

SECRET_KEY = "sk_test_fake_0123456789"
WEBHOOK_SECRET = "whsec_test_fake_0123456789"


def _json(data: dict, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _stripe_error(message: str, status: int = 400, kind: str = "invalid_request_error"):
    return _json({"error": {"type": kind, "message": message}}, status)


class FakeStripe:
    """Checkout Sessions and refunds, kept in memory like Stripe keeps them."""

    def __init__(self, server) -> None:
        self.server = server
        self.sessions: dict[str, dict] = {}
        self.created_with: dict[str, dict] = {}  # session id -> the form Stripe received
        self.by_idempotency_key: dict[str, str] = {}
        self.refunds: list[dict] = []
        self.refund_keys: list[str] = []
        self.expire_calls: list[str] = []
        self.down = False  # every endpoint answers 500
        self.refunds_fail = 0  # the next n refunds fail with a 500
        #: Where a session's ``url`` points; serve_checkout_pages() makes it this server.
        self.checkout_base = "https://checkout.stripe.test"
        self.webhook_url: str | None = None
        self.webhooks_sent: list[tuple[dict, requests.Response]] = []
        self._lock = threading.Lock()
        server.expect_request("/v1/checkout/sessions", method="POST").respond_with_handler(
            self._create
        )
        server.expect_request(
            re.compile(r"^/v1/checkout/sessions/[^/]+/expire$"), method="POST"
        ).respond_with_handler(self._expire)
        server.expect_request(
            re.compile(r"^/v1/checkout/sessions/[^/]+$"), method="GET"
        ).respond_with_handler(self._retrieve)
        server.expect_request("/v1/refunds", method="POST").respond_with_handler(self._refund)

    @property
    def api_base(self) -> str:
        return self.server.url_for("").rstrip("/")

    # --- endpoints -----------------------------------------------------------------

    def _create(self, request: Request) -> Response:
        if self.down:
            return _stripe_error("Stripe is down", 500, "api_error")
        assert request.headers["Authorization"] == f"Bearer {SECRET_KEY}"
        form = request.form
        with self._lock:
            key = request.headers.get("Idempotency-Key")
            if key in self.by_idempotency_key:
                return _json(self.sessions[self.by_idempotency_key[key]])
            lines = []
            index = 0
            while f"line_items[{index}][quantity]" in form:
                lines.append(
                    {
                        "name": form[f"line_items[{index}][price_data][product_data][name]"],
                        "unit_amount": int(form[f"line_items[{index}][price_data][unit_amount]"]),
                        "quantity": int(form[f"line_items[{index}][quantity]"]),
                        "currency": form[f"line_items[{index}][price_data][currency]"],
                    }
                )
                index += 1
            session_id = "cs_test_" + secrets.token_hex(12)
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": form["mode"],
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": sum(line["unit_amount"] * line["quantity"] for line in lines),
                "currency": form["currency"],
                "customer_email": form.get("customer_email"),
                "client_reference_id": form.get("client_reference_id"),
                "metadata": {"order_reference": form.get("metadata[order_reference]")},
                "expires_at": int(form["expires_at"]),
                "success_url": form["success_url"],
                "cancel_url": form["cancel_url"],
                "locale": form.get("locale"),
                "payment_intent": None,
                "url": f"{self.checkout_base}/c/pay/{session_id}",
            }
            self.sessions[session_id] = session
            self.created_with[session_id] = {
                "form": form.to_dict(),
                "lines": lines,
                "idempotency_key": key,
            }
            if key:
                self.by_idempotency_key[key] = session_id
            return _json(session)

    def _session_id(self, request: Request) -> str:
        return request.path.split("/")[4]

    def _retrieve(self, request: Request) -> Response:
        if self.down:
            return _stripe_error("Stripe is down", 500, "api_error")
        session = self.sessions.get(self._session_id(request))
        if session is None:
            return _stripe_error("No such checkout.session", 404)
        return _json(session)

    def _expire(self, request: Request) -> Response:
        if self.down:
            return _stripe_error("Stripe is down", 500, "api_error")
        session_id = self._session_id(request)
        self.expire_calls.append(session_id)
        session = self.sessions.get(session_id)
        if session is None:
            return _stripe_error("No such checkout.session", 404)
        if session["status"] != "open":
            return _stripe_error(
                'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f"Checkout Session has a status of `{session['status']}`."
            )
        session["status"] = "expired"
        return _json(session)

    def _refund(self, request: Request) -> Response:
        if self.down:
            return _stripe_error("Stripe is down", 500, "api_error")
        if self.refunds_fail:
            self.refunds_fail -= 1
            return _stripe_error("Something went wrong", 500, "api_error")
        form = request.form
        key = request.headers.get("Idempotency-Key")
        for refund in self.refunds:
            if refund["_key"] == key:
                return _json({k: v for k, v in refund.items() if k != "_key"})
        refund = {
            "id": "re_" + secrets.token_hex(10),
            "object": "refund",
            "status": "succeeded",
            "amount": int(form["amount"]),
            "payment_intent": form["payment_intent"],
            "reason": form.get("reason"),
            "metadata": {"order_reference": form.get("metadata[order_reference]")},
            "_key": key,
        }
        self.refunds.append(refund)
        self.refund_keys.append(key)
        return _json({k: v for k, v in refund.items() if k != "_key"})

    # --- Stripe's Checkout page, for a browser ------------------------------------------

    def serve_checkout_pages(self, *, webhook_url: str | None = None) -> None:
        """Give each new session a Checkout page on this server that a browser can load.

        The page shows what is to be paid, a "Betal" button and Stripe's back
        link (the session's cancel_url). Paying marks the session paid, sends
        the signed ``checkout.session.completed`` event to ``webhook_url`` (if
        given) as Stripe does, and then sends the browser to the success_url.
        """
        self.checkout_base = self.server.url_for("").rstrip("/")
        self.webhook_url = webhook_url
        self.server.expect_request(
            re.compile(r"^/c/pay/[^/]+$"), method="GET"
        ).respond_with_handler(self._checkout_page)
        self.server.expect_request(
            re.compile(r"^/c/pay/[^/]+$"), method="POST"
        ).respond_with_handler(self._checkout_pay)
        self.server.expect_request("/favicon.ico").respond_with_data("", status=404)

    def _checkout_session(self, request: Request) -> dict | None:
        return self.sessions.get(request.path.rsplit("/", 1)[1])

    def _checkout_page(self, request: Request) -> Response:
        session = self._checkout_session(request)
        if session is None or session["status"] != "open":
            return Response("This Checkout Session is no longer active.", status=404)
        kroner = f"{session['amount_total'] / 100:,.2f}".translate(str.maketrans(",.", ".,"))
        page = f"""<!doctype html>
<html lang="da"><head><meta charset="utf-8"><title>Stripe Checkout (test)</title></head>
<body><main>
<a id="back" href="{html.escape(session["cancel_url"])}">Tilbage</a>
<h1>Betal {kroner} kr.</h1>
<p id="email">{html.escape(session["customer_email"] or "")}</p>
<form method="post"><button type="submit" id="pay">Betal</button></form>
</main></body></html>"""
        return Response(
            page, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"}
        )

    def _checkout_pay(self, request: Request) -> Response:
        session = self._checkout_session(request)
        if session is None or session["status"] != "open":
            return Response("This Checkout Session is no longer active.", status=404)
        paid = self.pay(session["id"])
        if self.webhook_url:
            event = make_event("checkout.session.completed", paid)
            self.webhooks_sent.append((event, send_webhook(self.webhook_url, event)))
        success_url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return Response(status=303, headers={"Location": success_url})

    # --- what happens at Stripe without us ----------------------------------------------

    def pay(self, session_id: str, *, payment_status: str = "paid") -> dict:
        """The booker pays in Checkout; returns the session as Stripe now reports it."""
        session = self.sessions[session_id]
        session["status"] = "complete"
        session["payment_status"] = payment_status
        session["payment_intent"] = session["payment_intent"] or "pi_" + secrets.token_hex(10)
        return dict(session)

    def expire(self, session_id: str) -> dict:
        """Stripe expires the session by itself (its expires_at passed)."""
        session = self.sessions[session_id]
        session["status"] = "expired"
        return dict(session)

    def only_session(self) -> dict:
        assert len(self.sessions) == 1, f"{len(self.sessions)} sessions at Stripe"
        return next(iter(self.sessions.values()))


@pytest.fixture
def stripe_fake(app, httpserver) -> FakeStripe:
    """Card payments switched on, talking to the fake (no retries: failures show at once)."""
    fake = FakeStripe(httpserver)
    app.config.update(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=fake.api_base,
        STRIPE_MAX_NETWORK_RETRIES=0,
    )
    return fake


# --- webhooks ---------------------------------------------------------------------


def signature_header(payload: str, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's Stripe-Signature: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def make_event(kind: str, obj: dict, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2025-01-01",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": obj},
    }


def deliver(client, event: dict, *, secret: str = WEBHOOK_SECRET, at: int | None = None):
    """POST an event to the webhook as Stripe does, signed."""
    payload = json.dumps(event)
    return client.post(
        "/payments/stripe/webhook",
        data=payload,
        headers={
            "Stripe-Signature": signature_header(payload, secret=secret, at=at),
            "Content-Type": "application/json; charset=utf-8",
        },
    )


def send_webhook(url: str, event: dict, *, secret: str = WEBHOOK_SECRET) -> requests.Response:
    """POST an event over HTTP to a running app's webhook, signed, as Stripe does."""
    payload = json.dumps(event)
    return requests.post(
        url,
        data=payload.encode(),
        headers={
            "Stripe-Signature": signature_header(payload, secret=secret),
            "Content-Type": "application/json; charset=utf-8",
        },
        timeout=30,
    )


def checkout_row(stripe_id: str) -> CheckoutSession:
    db.session.expire_all()
    return db.session.query(CheckoutSession).filter_by(stripe_id=stripe_id).one()
