"""Every form POST is refused without a CSRF token, and the refusal changes nothing.

The routes come from the app's URL map, so a route added later is covered
too. The one exemption is Stripe's webhook, which is signed instead.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from conference.core.db import db
from tests.auth.helpers import log_in, make_staff

#: POST endpoints that authenticate in another way than a browser session.
SIGNED_ENDPOINTS = {"payments.stripe_webhook"}


def _row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def _post_routes(app, edition) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint in SIGNED_ENDPOINTS:
            continue
        values = {
            name: edition.slug if name == "slug" else ("x" * 43 if name == "token" else "1")
            for name in rule.arguments
        }
        if "stripe_id" in rule.arguments:
            values["stripe_id"] = "cs_test_1"
        routes.append((rule.endpoint, rule.build(values, append_unknown=False)[1]))
    return routes


def test_every_post_route_is_found(app, edition):
    endpoints = {endpoint for endpoint, _ in _post_routes(app, edition)}
    assert {
        "registration.register",
        "auth.login",
        "backoffice.change_capacity",
        "invoicing.mark_paid",
    } <= endpoints
    assert len(endpoints) >= 15
    # Every blueprint that takes a form post is in the enumeration.
    blueprints = {endpoint.partition(".")[0] for endpoint in endpoints}
    assert {
        "auth",
        "backoffice",
        "checkin",
        "communication",
        "invoicing",
        "privacy",
        "registration",
        "stands",
        "transfers",
    } <= blueprints


class _Reasons(logging.Handler):
    """What Flask-WTF logs when it refuses a post: the 400 is the missing token."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def csrf_reasons():
    logger = logging.getLogger("flask_wtf.csrf")
    reasons, level = _Reasons(), logger.level
    logger.addHandler(reasons)
    logger.setLevel(logging.INFO)
    yield reasons
    logger.removeHandler(reasons)
    logger.setLevel(level)


def test_every_post_without_a_token_is_refused_and_changes_nothing(
    app, client, edition, csrf_reasons
):
    make_staff()
    app.config["WTF_CSRF_ENABLED"] = True
    db.session.commit()
    before = _row_counts()
    for who in ("anonymous", "organiser"):
        if who == "organiser":
            # Logging in needs a token too: fetch one the way a browser does.
            app.config["WTF_CSRF_ENABLED"] = False
            log_in(client, "organiser@example.dk")
            app.config["WTF_CSRF_ENABLED"] = True
            before = _row_counts()
        for endpoint, url in _post_routes(app, edition):
            csrf_reasons.messages.clear()
            response = client.post(url, data={"confirm": "y", "capacity": "5"})
            assert response.status_code == 400, f"{who} {endpoint} {url}: {response.status_code}"
            assert csrf_reasons.messages == ["The CSRF token is missing."], f"{who} {endpoint}"
            db.session.rollback()
            assert _row_counts() == before, f"{who} {endpoint} wrote something"


def test_the_stripe_webhook_is_exempt_but_signed(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    app.config["STRIPE_WEBHOOK_SECRET"] = "whsec_test"
    response = client.post("/payments/stripe/webhook", data="{}", content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": "invalid signature"}
