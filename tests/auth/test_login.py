"""Staff log in at /staff/login with e-mail and password; wrong details reveal nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from conference import create_app
from conference.auth.models import StaffUser
from conference.auth.services import safe_next_url
from conference.core.db import db
from conference.core.models import AuditEvent
from tests.auth.helpers import PASSWORD, log_in, make_staff
from tests.conftest import csrf_token_from, rate_limited_app

WRONG_DETAILS = "The e-mail address or password is not correct."


def _is_logged_in(client) -> bool:
    return client.get("/staff/").status_code == 200


def test_login_page_shows_the_form(client):
    response = client.get("/staff/login?lang=en")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' in html
    assert 'autocomplete="current-password"' in html


def test_login_with_right_details_opens_the_back_office(client, app):
    user = make_staff("Organiser@Example.dk")
    response = log_in(client, "organiser@example.dk")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    page = client.get("/staff/")
    assert page.status_code == 200
    assert "organiser@example.dk" in page.get_data(as_text=True)
    db.session.refresh(user)
    assert user.last_login_at is not None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.login"))


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("organiser@example.dk", "not the password at all"),
        ("nobody@example.dk", PASSWORD),
        ("", ""),
    ],
    ids=["wrong-password", "unknown-email", "empty"],
)
def test_wrong_details_are_refused(client, email, password):
    make_staff()
    response = log_in(client, email, password)
    assert response.status_code == 200
    assert not _is_logged_in(client)


def test_unknown_email_and_wrong_password_get_the_same_answer(client):
    make_staff()
    unknown = log_in(client, "nobody@example.dk").get_data(as_text=True)
    wrong = log_in(client, "organiser@example.dk", "wrong password 123").get_data(as_text=True)
    assert WRONG_DETAILS in unknown
    assert WRONG_DETAILS in wrong
    # The e-mail typed is echoed back in the field; apart from that the pages are the same.
    assert unknown.replace("nobody@example.dk", "X") == wrong.replace("organiser@example.dk", "X")


def test_inactive_user_cannot_log_in_and_is_told_nothing_more(client):
    make_staff(active=False)
    response = log_in(client, "organiser@example.dk")
    assert WRONG_DETAILS in response.get_data(as_text=True)
    assert not _is_logged_in(client)


def test_deactivated_user_is_logged_out_on_the_next_request(client):
    user = make_staff()
    log_in(client, "organiser@example.dk")
    assert _is_logged_in(client)
    user.is_active_user = False
    db.session.commit()
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login")


def test_anonymous_visitor_is_sent_to_login_and_back_afterwards(client, edition):
    make_staff()
    response = client.get(f"/staff/e/{edition.slug}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/login?next=%2Fstaff%2Fe%2F{edition.slug}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'value="/staff/e/{edition.slug}"' in page
    response = log_in(client, "organiser@example.dk", next_url=f"/staff/e/{edition.slug}")
    assert response.headers["Location"] == f"/staff/e/{edition.slug}"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/staff/",
        "//evil.example/staff/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "staff/",
        "/staff/\r\nSet-Cookie: x=y",
    ],
)
def test_next_pointing_elsewhere_is_ignored(client, target):
    make_staff()
    response = log_in(client, "organiser@example.dk", next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    assert safe_next_url(target) is None


def test_next_on_this_site_keeps_its_query():
    assert safe_next_url("/staff/e/traef/registrants?q=aarhus") == (
        "/staff/e/traef/registrants?q=aarhus"
    )


def test_logged_in_user_visiting_login_goes_to_the_back_office(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    response = client.get("/staff/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"


def test_logout_is_a_post_and_ends_the_session(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    assert client.get("/staff/logout").status_code == 405
    assert _is_logged_in(client)
    response = client.post("/staff/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/login"
    assert "You are logged out." in client.get("/staff/login").get_data(as_text=True)
    assert not _is_logged_in(client)


def test_login_without_csrf_token_is_refused(app, database_url):
    make_staff()
    csrf_app = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": database_url, "WTF_CSRF_ENABLED": True}
    )
    # Each request pushes its own app context, as in production (g is per request).
    client = csrf_app.test_client()
    page = client.get("/staff/login?lang=en").get_data(as_text=True)
    refused = client.post(
        "/staff/login", data={"email": "organiser@example.dk", "password": PASSWORD}
    )
    assert refused.status_code == 400
    assert client.get("/staff/").status_code == 302
    accepted = client.post(
        "/staff/login",
        data={
            "email": "organiser@example.dk",
            "password": PASSWORD,
            "csrf_token": csrf_token_from(page),
        },
    )
    assert accepted.status_code == 302
    assert client.get("/staff/").status_code == 200
    # Logging out needs the token too: the header's form carries it.
    staff_page = client.get("/staff/").get_data(as_text=True)
    assert client.post("/staff/logout").status_code == 400
    logout = client.post("/staff/logout", data={"csrf_token": csrf_token_from(staff_page)})
    assert logout.status_code == 302


def test_login_posts_are_rate_limited(app, database_url):
    make_staff()
    limited_app = rate_limited_app(database_url, LOGIN_RATE_LIMIT="3 per minute")
    client = limited_app.test_client()
    for _ in range(3):
        response = client.post(
            "/staff/login", data={"email": "organiser@example.dk", "password": "guess 12345"}
        )
        assert response.status_code == 200
    blocked = client.post(
        "/staff/login", data={"email": "organiser@example.dk", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    # Reading the form is not limited; only attempts are.
    assert client.get("/staff/login").status_code == 200
    assert client.get("/staff/").status_code == 302


def test_cli_creates_an_organiser_who_can_log_in(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "--role", "organiser", "Mette@Example.dk"],
        input="long-password-123\nlong-password-123\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created organiser mette@example.dk" in result.output
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == "mette@example.dk"))
    assert user is not None and user.role == "organiser"
    assert log_in(client, "mette@example.dk", "long-password-123").status_code == 302
    assert _is_logged_in(client)


def test_cli_refuses_duplicates_and_short_passwords(app):
    runner = app.test_cli_runner()
    first = runner.invoke(
        args=["users", "create", "--role", "accounting", "a@example.dk", "--password", "x" * 12]
    )
    assert first.exit_code == 0, first.output
    again = runner.invoke(
        args=["users", "create", "--role", "organiser", "A@example.dk", "--password", "y" * 12]
    )
    assert again.exit_code != 0
    assert "already exists" in again.output or "findes allerede" in again.output
    short = runner.invoke(
        args=["users", "create", "--role", "organiser", "b@example.dk", "--password", "short"]
    )
    assert short.exit_code != 0
    assert db.session.scalar(select(StaffUser).where(StaffUser.email == "b@example.dk")) is None
