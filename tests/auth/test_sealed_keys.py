"""Second-factor keys are kept sealed with the app's key: not readable from the database
alone, still working while SECRET_KEY is rotated through SECRET_KEY_FALLBACKS, and
sealed by migration 0011 where an earlier version kept them plain."""

from __future__ import annotations

import logging

from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text, update

from conference import create_app
from conference.auth.models import StaffUser
from conference.core.db import db
from conference.core.security import sealed_with_current_key, sign_ticket_code, unseal
from conference.core.security import unsign_ticket_code as open_ticket_code
from tests.auth.helpers import enable_totp, log_in, make_named_staff, next_code
from tests.auth.test_second_factor import WRONG_CODE

OLD_KEY = "testing-only-not-secret"  # the testing config's SECRET_KEY
NEW_KEY = "a-new-testing-key-after-rotation-0123456789"


def _log_in(client, email: str, code: str):
    log_in(client, email)
    return client.post("/staff/login/code", data={"code": code})


def _app_with_keys(database_url: str, fallbacks: list[str]):
    return create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": NEW_KEY,
            "SECRET_KEY_FALLBACKS": fallbacks,
        },
    )


def _stored_key(app, user_id: int) -> str:
    with app.app_context():
        value = db.session.scalar(select(StaffUser.totp_secret).where(StaffUser.id == user_id))
        db.session.remove()
        return value


def test_a_rotated_secret_key_keeps_second_factors_working_and_reseals_them(app, database_url):
    anna = make_named_staff("anna@kl.dk", "organiser", "Anna")
    totp, _codes = enable_totp(anna)
    anna_id = anna.id
    sealed_before = anna.totp_secret
    with app.test_request_context():
        old_qr = sign_ticket_code("ticket-1")
    db.session.remove()

    # SECRET_KEY replaced, the old one kept as a fallback.
    rotated = _app_with_keys(database_url, fallbacks=[OLD_KEY])
    response = _log_in(rotated.test_client(), "anna@kl.dk", next_code(totp))
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    # Sealed again under the new key at that login, so the old key can go.
    resealed = _stored_key(rotated, anna_id)
    assert resealed != sealed_before
    with rotated.test_request_context():
        assert sealed_with_current_key(resealed)
        # A ticket QR code signed with the old key still opens the door too.
        assert open_ticket_code(old_qr) == "ticket-1"

    # The old key dropped: the resealed key still works (a minute later, say,
    # when the code just used is no longer the newest).
    retired = _app_with_keys(database_url, fallbacks=[])
    with retired.app_context():
        db.session.execute(
            update(StaffUser).where(StaffUser.id == anna_id).values(totp_last_counter=None)
        )
        db.session.commit()
        db.session.remove()
    response = _log_in(retired.test_client(), "anna@kl.dk", next_code(totp))
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    with retired.test_request_context():
        assert open_ticket_code(old_qr) is None  # its key is gone too


def test_a_key_no_app_key_opens_refuses_the_code_and_leaves_the_recovery_codes(
    app, database_url, caplog
):
    anna = make_named_staff("anna@kl.dk", "organiser", "Anna")
    totp, codes = enable_totp(anna)
    db.session.remove()

    # SECRET_KEY replaced, the old one not kept as a fallback.
    lost = _app_with_keys(database_url, fallbacks=[])
    client = lost.test_client()
    with caplog.at_level(logging.ERROR, logger="conference.auth.services"):
        response = _log_in(client, "anna@kl.dk", next_code(totp))
    assert response.status_code == 422
    assert WRONG_CODE in response.get_data(as_text=True)
    assert any("opens with none of the app's keys" in r.getMessage() for r in caplog.records)
    response = client.post("/staff/login/code", data={"code": codes[0]})
    assert response.status_code == 302


PLAIN_KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_migration_0011_seals_plain_keys_and_0010_gets_them_back(app):
    db.session.remove()
    downgrade(revision="0010")
    try:
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO staff_user (id, email, name, role, password_hash, "
                    "is_active_user, created_at, totp_secret, totp_enabled_at) VALUES "
                    "(7, 'old@kl.dk', 'Old', 'organiser', 'x', true, '2026-01-01', "
                    ":key, '2026-01-02')"
                ),
                {"key": PLAIN_KEY},
            )
        upgrade()
        stored = db.session.scalar(select(StaffUser.totp_secret).where(StaffUser.id == 7))
        assert PLAIN_KEY not in stored
        assert unseal(stored) == PLAIN_KEY
        db.session.remove()
        downgrade(revision="0010")
        with db.engine.begin() as connection:
            assert (
                connection.execute(text("SELECT totp_secret FROM staff_user WHERE id = 7")).scalar()
                == PLAIN_KEY
            )
            connection.execute(text("DELETE FROM staff_user"))
    finally:
        upgrade()
