"""Every staff route is for logged-in staff with the right role only.

The routes are read from the app's URL map, whatever their blueprint or address:
a route is public by name (PUBLIC_ENDPOINTS), behind a secret link (it takes a
token or a Stripe session id), the development mail viewer, or a staff route that
must be guarded by ``roles_required``. A route added later falls in one of these
or fails here, and a staff route is checked against every role.
"""

from __future__ import annotations

import pytest

from conference.auth.models import Role
from tests.auth.helpers import log_in, make_staff

#: Routes anyone may open, by design: the public site, login, Stripe's webhook.
PUBLIC_ENDPOINTS = {
    "static",
    "events.index",
    "events.edition",
    "registration.register",
    "registration.join_waiting_list",
    "registration.request_link",
    "stands.exhibition",
    "stands.background",
    "stands.book",
    "stands.exhibitors",
    "stands.exhibitor_logo",
    "privacy.page",
    "auth.login",
    "auth.login_code",
    "auth.logout",
    "payments.stripe_webhook",
}
#: Arguments that make a route a secret link (tests/core/test_idor.py covers them).
LINK_ARGUMENTS = {"token", "stripe_id"}
#: The development mail viewer: 404 unless MAIL_VIEWER is on.
DEVELOPMENT_BLUEPRINTS = {"mail"}


def _kind(app, rule) -> str:
    if rule.endpoint in PUBLIC_ENDPOINTS:
        return "public"
    if LINK_ARGUMENTS & set(rule.arguments):
        return "link"
    if rule.endpoint.partition(".")[0] in DEVELOPMENT_BLUEPRINTS:
        return "development"
    return "staff"


def _staff_routes(app, edition):
    """(endpoint, method, url, allowed roles) for every route that is for staff."""
    routes = []
    for rule in app.url_map.iter_rules():
        if _kind(app, rule) != "staff":
            continue
        view = app.view_functions[rule.endpoint]
        allowed = getattr(view, "allowed_roles", None)
        assert allowed, f"{rule.rule} is not guarded by roles_required"
        values = {name: (edition.slug if name == "slug" else "1") for name in rule.arguments}
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, url, allowed))
    return routes


def test_every_route_is_public_a_link_or_guarded_whatever_its_blueprint(app, edition):
    kinds: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        kinds.setdefault(_kind(app, rule), set()).add(rule.endpoint)
    # Every blueprint's staff screens are in the enumeration, not only /staff/e/...
    blueprints = {endpoint.partition(".")[0] for endpoint in kinds["staff"]}
    assert {
        "auth",
        "audit",
        "backoffice",
        "checkin",
        "communication",
        "invoicing",
        "privacy",
        "transfers",
    } <= blueprints
    assert {"backoffice.stands_approve", "communication.send", "privacy.erase"} <= kinds["staff"]
    # A guarded view is never listed as public, and a public one is really open.
    for endpoint in PUBLIC_ENDPOINTS:
        assert not getattr(app.view_functions[endpoint], "allowed_roles", None), endpoint
    _staff_routes(app, edition)  # asserts every one of them is guarded


def test_a_new_unguarded_route_anywhere_fails_the_enumeration(database_url, _migrated, edition):
    from conference import create_app

    other = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    other.add_url_rule("/reports/<slug>/revenue", "reports.revenue", lambda slug: "secret")
    with pytest.raises(AssertionError, match="/reports/<slug>/revenue is not guarded"):
        _staff_routes(other, edition)


def test_the_mail_viewer_is_not_there_outside_development(app, client):
    from config import DevelopmentConfig, ProductionConfig

    assert ProductionConfig.MAIL_VIEWER is False and DevelopmentConfig.MAIL_VIEWER is True
    assert app.config["MAIL_VIEWER"] is False
    for rule in app.url_map.iter_rules():
        if _kind(app, rule) == "development":
            url = rule.build(dict.fromkeys(rule.arguments, "1"), append_unknown=False)[1]
            assert client.get(url).status_code == 404, url


def test_the_back_office_routes_are_found(app, edition):
    endpoints = {endpoint for endpoint, *_ in _staff_routes(app, edition)}
    assert {
        "backoffice.index",
        "backoffice.dashboard",
        "backoffice.change_capacity",
        "backoffice.registrants",
        "backoffice.registrants_csv",
    } <= endpoints


def test_anonymous_visitors_are_sent_to_the_login_page(app, client, edition):
    for endpoint, method, url, _allowed in _staff_routes(app, edition):
        response = client.open(url, method=method, data={"capacity": "900"})
        assert response.status_code == 302, (endpoint, method)
        assert response.headers["Location"].startswith("/staff/login?next="), endpoint
    assert edition.quotas[0].capacity == 600


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_staff_without_the_role_get_403(app, edition, role):
    make_staff(f"{role}@example.dk", role)
    client = app.test_client()
    assert log_in(client, f"{role}@example.dk").status_code == 302
    refused = 0
    for endpoint, method, url, allowed in _staff_routes(app, edition):
        if role in allowed:
            continue
        response = client.open(url, method=method, data={"capacity": "900"})
        assert response.status_code == 403, (endpoint, method)
        assert "You do not have access to this page" in response.get_data(as_text=True)
        refused += 1
    if role != Role.ORGANISER:
        assert refused >= 4  # dashboard, capacity, registrants and the CSV
    assert edition.quotas[0].capacity == 600


def test_organiser_screens_are_for_organisers_only(app):
    for endpoint in (
        "backoffice.dashboard",
        "backoffice.change_capacity",
        "backoffice.registrants",
        "backoffice.registrants_csv",
    ):
        assert app.view_functions[endpoint].allowed_roles == {"organiser"}


def test_every_role_sees_the_editions_list(app, edition):
    for role in Role:
        make_staff(f"{role.value}@example.dk", role.value)
        client = app.test_client()
        log_in(client, f"{role.value}@example.dk")
        page = client.get("/staff/")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert edition.display_name("en") in html
        # Only organisers get a link to the dashboard.
        assert (f'href="/staff/e/{edition.slug}"' in html) == (role is Role.ORGANISER)


def test_unknown_edition_is_404_for_an_organiser(app, client, edition):
    make_staff()
    log_in(client, "organiser@example.dk")
    assert client.get("/staff/e/no-such-edition").status_code == 404
    assert client.get("/staff/e/no-such-edition/registrants.csv").status_code == 404
