"""Every public form post and every secret link is rate limited per client address.

The routes come from the URL map: every route behind a link (a token or a Stripe
session id) in all its methods, and every POST a visitor can make without logging
in (registration, waiting list, stand booking, staff login and its code step).
With each limit at one a minute, the second request from one address gets the
"too many attempts" page; another address is not held up. Guessing manage or offer
links therefore costs a guesser MANAGE_RATE_LIMIT tries a minute per address.
"""

from __future__ import annotations

import pytest

from conference.core.db import db
from tests.backoffice.test_access import LINK_ARGUMENTS, PUBLIC_ENDPOINTS
from tests.conftest import rate_limited_app

#: Public posts that need no limit: Stripe's signed webhook (Stripe retries and
#: bursts; a signature, not an address, decides) and logging out.
UNLIMITED = {"payments.stripe_webhook", "auth.logout"}


@pytest.fixture
def limited_app(database_url, edition):
    app = rate_limited_app(
        database_url,
        REGISTRATION_RATE_LIMIT="1 per minute",
        LOGIN_RATE_LIMIT="1 per minute",
        SECOND_FACTOR_RATE_LIMIT="1 per minute",
        MANAGE_RATE_LIMIT="1 per minute",
    )
    db.session.commit()  # SQLite: the other app's requests may write
    yield app
    with app.app_context():
        db.engine.dispose()  # this app's own pool: give its connections back now


def _limited_routes(app, edition) -> list[tuple[str, list[str], str]]:
    """(endpoint, methods, url) of every route whose requests must be rate limited."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNLIMITED:
            continue
        values = {
            "slug": edition.slug,
            "token": "x" * 43,
            "stripe_id": "cs_test_guess",
            "code": "A1",
        }
        url = rule.build(
            {name: values.get(name, "1") for name in rule.arguments}, append_unknown=False
        )[1]
        if LINK_ARGUMENTS & set(rule.arguments):
            methods = rule.methods - {"HEAD", "OPTIONS"}
        elif rule.endpoint in PUBLIC_ENDPOINTS and "POST" in rule.methods:
            methods = {"POST"}
        else:
            continue
        routes.append((rule.endpoint, sorted(methods), url))
    return routes


def test_every_public_post_and_link_is_limited_per_address(limited_app, edition):
    routes = _limited_routes(limited_app, edition)
    endpoints = {endpoint for endpoint, _, _ in routes}
    assert {
        "registration.register",
        "registration.join_waiting_list",
        "registration.request_link",
        "registration.manage",
        "registration.accept_offer",
        "stands.book",
        "stands.manage",
        "transfers.transfer_place",
        "privacy.download",
        "payments.checkout_done",
        "auth.login",
        "auth.login_code",
    } <= endpoints
    db.session.rollback()  # SQLite: this thread holds no transaction while the app writes
    client = limited_app.test_client()
    for endpoint, methods, url in routes:
        # One request a minute per route, whatever its method (GET and POST of a form share it).
        first = client.open(url, method=methods[0], data={"email": "a@b.dk"})
        assert first.status_code != 429, (endpoint, methods[0], first.status_code)
        for method in methods:
            again = client.open(url, method=method, data={"email": "a@b.dk"})
            assert again.status_code == 429, (endpoint, method, again.status_code)
            assert "For mange forsøg" in again.get_data(as_text=True)
    # Another address is not held up by the first one's tries.
    for endpoint, methods, url in routes:
        if endpoint == "auth.login_code":
            continue  # also limited per staff user, whatever the address
        response = client.open(
            url,
            method=methods[0],
            data={"email": "a@b.dk"},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        )
        assert response.status_code != 429, (endpoint, methods[0])
