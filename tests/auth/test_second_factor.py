"""The optional second factor: enrolment with a QR code and a confirming code, ten
recovery codes, the code step of the login (rate limited, no replay), turning it
off, and the organisers' setting that makes it mandatory for organisers and
accounting."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from conference.auth.models import RecoveryCode, StaffUser
from conference.core.db import db
from conference.core.models import AuditEvent
from conference.core.security import unseal
from tests.auth.helpers import PASSWORD, enable_totp, log_in, make_named_staff, next_code
from tests.conftest import rate_limited_app

WRONG_CODE = "The code is not correct, or it has been used already."


@pytest.fixture
def anna(app):
    return make_named_staff("anna@example.dk", "organiser", "Anna")


def _logged_in(client) -> bool:
    return client.get("/staff/").status_code == 200


def _actions(user_id: int | None = None) -> list[str]:
    statement = select(AuditEvent.action).order_by(AuditEvent.id)
    if user_id is not None:
        statement = statement.where(AuditEvent.object_id == user_id)
    return list(db.session.scalars(statement))


def _enrol_through_the_page(client) -> tuple[pyotp.TOTP, str]:
    page = client.get("/staff/account/second-factor")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html  # the QR code, inline
    secret = re.search(r'<code class="totp-secret">([A-Z2-7 ]+)</code>', html).group(1)
    return pyotp.TOTP(secret.replace(" ", "")), html


def test_enrolment_shows_a_qr_code_and_the_secret_and_gives_ten_hashed_recovery_codes(app, anna):
    client = app.test_client()
    log_in(client, "anna@example.dk")
    totp, html = _enrol_through_the_page(client)
    assert page_cache_is_off(client)
    # Reloading keeps the secret that may already be in the app.
    again = client.get("/staff/account/second-factor").get_data(as_text=True)
    assert totp.secret in again.replace(" ", "")
    wrong = client.post("/staff/account/second-factor", data={"code": "000000"})
    assert wrong.status_code == 422
    db.session.refresh(anna)
    assert not anna.has_second_factor
    response = client.post("/staff/account/second-factor", data={"code": totp.now()})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]{19})</code></li>", response.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert response.headers["Cache-Control"] == "no-store"
    db.session.refresh(anna)
    assert anna.has_second_factor
    # The key is kept sealed: the database alone does not give the second factor away.
    assert totp.secret not in anna.totp_secret and unseal(anna.totp_secret) == totp.secret
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert "staff.second_factor_enabled" in _actions(anna.id)
    account = client.get("/staff/account?lang=en").get_data(as_text=True)
    assert "10 recovery codes left." in account


def page_cache_is_off(client) -> bool:
    return client.get("/staff/account/second-factor").headers["Cache-Control"] == "no-store"


def test_login_with_totp_needs_a_real_code_after_the_password(app, anna):
    totp, _codes = enable_totp(anna)
    client = app.test_client()
    response = log_in(client, "anna@example.dk")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/login/code"
    assert not _logged_in(client)  # the password alone is not enough
    assert "Enter the 6-digit code" in client.get("/staff/login/code").get_data(as_text=True)
    wrong = client.post("/staff/login/code", data={"code": "123456"})
    assert wrong.status_code == 422 and WRONG_CODE in wrong.get_data(as_text=True)
    assert not _logged_in(client)
    ok = client.post("/staff/login/code", data={"code": next_code(totp)})
    assert ok.status_code == 302 and ok.headers["Location"] == "/staff/"
    assert _logged_in(client)
    login = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "staff.login").order_by(AuditEvent.id.desc())
    )
    assert login.data == {"second_factor": "totp"}


def test_a_used_code_cannot_be_replayed_within_its_window(app, anna):
    totp, _codes = enable_totp(anna)
    code = next_code(totp)
    first = app.test_client()
    log_in(first, "anna@example.dk")
    assert first.post("/staff/login/code", data={"code": code}).status_code == 302
    second = app.test_client()
    log_in(second, "anna@example.dk")
    replay = second.post("/staff/login/code", data={"code": code})
    assert replay.status_code == 422 and WRONG_CODE in replay.get_data(as_text=True)
    assert not _logged_in(second)
    # The enrolment code (an older step) is refused too.
    assert second.post("/staff/login/code", data={"code": totp.now()}).status_code == 422


def test_a_recovery_code_works_once(app, anna):
    _totp, codes = enable_totp(anna)
    client = app.test_client()
    log_in(client, "anna@example.dk")
    response = client.post("/staff/login/code", data={"code": codes[3].upper()})
    assert response.status_code == 302
    page = client.get("/staff/")
    assert page.status_code == 200 and "9 are left" in page.get_data(as_text=True)
    again = app.test_client()
    log_in(again, "anna@example.dk")
    assert again.post("/staff/login/code", data={"code": codes[3]}).status_code == 422
    assert not _logged_in(again)
    assert again.post("/staff/login/code", data={"code": codes[4]}).status_code == 302
    assert _actions(anna.id).count("staff.recovery_code_used") == 2


def test_another_users_recovery_code_does_not_work(app, anna):
    bo = make_named_staff("bo@example.dk", "checkin", "Bo")
    enable_totp(anna)
    _totp, bo_codes = enable_totp(bo)
    client = app.test_client()
    log_in(client, "anna@example.dk")
    assert client.post("/staff/login/code", data={"code": bo_codes[0]}).status_code == 422


def test_the_code_step_without_a_password_first_goes_back_to_login(client, anna):
    enable_totp(anna)
    response = client.get("/staff/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/login"


def test_the_code_step_expires(app, anna):
    totp, _codes = enable_totp(anna)
    client = app.test_client()
    log_in(client, "anna@example.dk")
    with client.session_transaction() as session:
        pending = dict(session["staff_pending_login"])
        pending["since"] = time.time() - 3600
        session["staff_pending_login"] = pending
    response = client.post("/staff/login/code", data={"code": next_code(totp)})
    assert response.status_code == 302 and response.headers["Location"] == "/staff/login"
    assert not _logged_in(client)


def test_the_code_step_keeps_the_page_asked_for(app, anna, edition):
    totp, _codes = enable_totp(anna)
    client = app.test_client()
    log_in(client, "anna@example.dk", next_url=f"/staff/e/{edition.slug}")
    response = client.post("/staff/login/code", data={"code": next_code(totp)})
    assert response.headers["Location"] == f"/staff/e/{edition.slug}"


def test_the_code_step_is_rate_limited_per_user(app, anna, database_url):
    enable_totp(anna)
    limited_app = rate_limited_app(
        database_url, LOGIN_RATE_LIMIT="100 per minute", SECOND_FACTOR_RATE_LIMIT="3 per minute"
    )
    client = limited_app.test_client()
    client.post("/staff/login", data={"email": "anna@example.dk", "password": PASSWORD})
    statuses = [
        client.post("/staff/login/code", data={"code": "000000"}).status_code for _ in range(4)
    ]
    assert statuses == [422, 422, 422, 429]
    # Another browser, same user: still limited (the limit is per staff user).
    other = limited_app.test_client()
    other.post("/staff/login", data={"email": "anna@example.dk", "password": PASSWORD})
    assert other.post("/staff/login/code", data={"code": "000000"}).status_code == 429


def test_turning_the_second_factor_off_needs_a_current_code(app, anna):
    totp, codes = enable_totp(anna)
    client = app.test_client()
    log_in(client, "anna@example.dk")
    client.post("/staff/login/code", data={"code": codes[0]})
    wrong = client.post("/staff/account/second-factor/off", data={"code": "111111"})
    assert wrong.status_code == 422
    db.session.refresh(anna)
    assert anna.has_second_factor
    response = client.post("/staff/account/second-factor/off", data={"code": next_code(totp)})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(anna)
    assert not anna.has_second_factor
    assert db.session.scalars(select(RecoveryCode)).all() == []
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "staff.second_factor_disabled")
    )
    assert event.data == {"before": {"second_factor": True}, "after": {"second_factor": False}}
    assert log_in(app.test_client(), "anna@example.dk").headers["Location"] == "/staff/"


def _staff_get_urls(app, edition) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff") or "GET" not in rule.methods:
            continue
        if rule.endpoint in {"auth.login", "auth.login_code", "auth.second_factor"}:
            continue
        values = {name: (edition.slug if name == "slug" else "1") for name in rule.arguments}
        urls.append(rule.build(values, append_unknown=False)[1])
    assert len(urls) > 10
    return urls


def _set_mandatory(client, on: bool = True):
    data = {"second_factor_required": "y"} if on else {}
    return client.post("/staff/users/policy", data=data)


def test_an_organiser_makes_the_second_factor_mandatory_and_it_is_audited(app, anna):
    totp, _ = enable_totp(anna)
    client = app.test_client()
    log_in(client, "anna@example.dk")
    client.post("/staff/login/code", data={"code": next_code(totp)})
    assert _set_mandatory(client).status_code == 302
    page = client.get("/staff/users?lang=en").get_data(as_text=True)
    assert 'name="second_factor_required" type="checkbox" value="y" checked' in page or (
        "checked" in page
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff_policy.changed"))
    assert event.data == {
        "before": {"second_factor_required": False},
        "after": {"second_factor_required": True},
    }
    # Mandatory for her role: she cannot turn hers off now, even with a good code.
    step = db.session.get(StaffUser, anna.id).totp_last_counter
    refused = client.post(
        "/staff/account/second-factor/off", data={"code": totp.generate_otp(step + 1)}
    )
    db.session.refresh(anna)
    assert anna.has_second_factor
    assert refused.status_code == 422
    assert "mandatory for your role" in refused.get_data(as_text=True)


@pytest.mark.parametrize("role", ["organiser", "accounting"])
def test_when_mandatory_a_user_without_it_must_enrol_before_anything_else(app, anna, edition, role):
    from conference.auth.services import set_second_factor_required

    set_second_factor_required(True, actor="test")
    make_named_staff(f"{role}2@example.dk", role, "Someone")
    client = app.test_client()
    response = log_in(client, f"{role}2@example.dk")
    assert response.headers["Location"] == "/staff/account/second-factor"
    # Every staff page but the enrolment (and logging out) sends them there.
    for url in _staff_get_urls(app, edition):
        blocked = client.get(url)
        assert blocked.status_code == 302, url
        assert blocked.headers["Location"] == "/staff/account/second-factor", url
    totp, _html = _enrol_through_the_page(client)
    done = client.post("/staff/account/second-factor", data={"code": totp.now()})
    assert done.status_code == 200
    assert client.get("/staff/").status_code == 200
    assert client.get("/staff/account").status_code == 200


def test_check_in_staff_are_never_forced(app, anna):
    from conference.auth.services import set_second_factor_required

    set_second_factor_required(True, actor="test")
    db.session.commit()
    make_named_staff("door@example.dk", "checkin", "Door")
    client = app.test_client()
    assert log_in(client, "door@example.dk").headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200


def test_an_organiser_turns_off_a_users_lost_second_factor(app, anna):
    bo = make_named_staff("bo@example.dk", "checkin", "Bo")
    enable_totp(bo)
    client = app.test_client()
    log_in(client, "anna@example.dk")
    assert client.post(f"/staff/users/{bo.id}/second-factor/reset", data={}).status_code == 422
    db.session.refresh(bo)
    assert bo.has_second_factor
    response = client.post(f"/staff/users/{bo.id}/second-factor/reset", data={"confirm": "y"})
    assert response.status_code == 302
    db.session.refresh(bo)
    assert not bo.has_second_factor
    assert "staff.second_factor_reset" in _actions(bo.id)
    assert log_in(app.test_client(), "bo@example.dk").headers["Location"] == "/staff/"


def test_turning_the_second_factor_on_ends_other_sessions_but_not_this_one(app, anna):
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop, "anna@example.dk")
    log_in(phone, "anna@example.dk")
    totp, _html = _enrol_through_the_page(laptop)
    assert laptop.post("/staff/account/second-factor", data={"code": totp.now()}).status_code == 200
    assert laptop.get("/staff/").status_code == 200
    # A session opened with the password alone is gone.
    assert phone.get("/staff/").status_code == 302
