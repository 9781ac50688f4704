"""Every back-office route is for logged-in staff with the right role only.

The routes are read from the app's URL map, so a route added later is
checked too, and one added without ``roles_required`` fails here.
"""

from __future__ import annotations

import pytest

from conference.auth.models import Role
from tests.auth.helpers import log_in, make_staff

PUBLIC_STAFF_ENDPOINTS = {"auth.login", "auth.login_code", "auth.logout"}


def _staff_routes(app, edition):
    """(endpoint, method, url, allowed roles) for every guarded /staff route."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff") or rule.endpoint in PUBLIC_STAFF_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        allowed = getattr(view, "allowed_roles", None)
        assert allowed, f"{rule.rule} is not guarded by roles_required"
        values = {name: (edition.slug if name == "slug" else "1") for name in rule.arguments}
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, url, allowed))
    return routes


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
