"""Settings: production refuses to start without its secrets."""

from __future__ import annotations

import pytest

from conference import create_app
from config import ConfigurationError, config_for

#: A secret as the README makes one (secrets.token_urlsafe(48)).
RANDOM_SECRET = "Vq3m8Zt0b-KpX2wJr9LcYh7Ud5NfAe1Gs4Tx6Ri0OkMnBvQzWyPjHlEaSdFgCuI"


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "DATABASE_URL", "FLASK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_names_every_missing_variable(clean_env):
    with pytest.raises(ConfigurationError) as raised:
        config_for("production")
    assert "SECRET_KEY" in str(raised.value)
    assert "DATABASE_URL" in str(raised.value)


def test_production_names_the_one_missing_variable(clean_env):
    clean_env.setenv("SECRET_KEY", RANDOM_SECRET)
    with pytest.raises(ConfigurationError) as raised:
        config_for("production")
    assert "DATABASE_URL" in str(raised.value)
    assert "SECRET_KEY" not in str(raised.value)


def test_production_refuses_a_development_secret(clean_env):
    clean_env.setenv("SECRET_KEY", "development-only-not-secret")
    clean_env.setenv("DATABASE_URL", "postgresql://db/conference")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        config_for("production")


@pytest.mark.parametrize(
    "secret",
    [
        "changeme",
        "testing-only-not-secret",
        "too-short-0123456789abcdefghij",  # 30 characters
        "x" * 48,
        "secret" * 8,  # long, but six different characters
    ],
)
def test_production_refuses_a_weak_secret(clean_env, secret):
    clean_env.setenv("SECRET_KEY", secret)
    clean_env.setenv("DATABASE_URL", "postgresql://db/conference")
    with pytest.raises(ConfigurationError, match="SECRET_KEY must be a random value"):
        config_for("production")


def test_production_refuses_debug_turned_on_in_the_app(clean_env):
    clean_env.setenv("SECRET_KEY", RANDOM_SECRET)
    clean_env.setenv("DATABASE_URL", "postgresql://db/conference")
    with pytest.raises(ConfigurationError, match="debug mode"):
        create_app("production", {"DEBUG": True})


def test_production_sends_hsts_and_secure_cookies(clean_env):
    clean_env.setenv("SECRET_KEY", RANDOM_SECRET)
    clean_env.setenv("DATABASE_URL", "postgresql://db/conference")
    app = create_app("production")
    response = app.test_client().get("/static/css/app.css")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.debug is False and app.testing is False


def test_production_refuses_debug(clean_env):
    clean_env.setenv("SECRET_KEY", RANDOM_SECRET)
    clean_env.setenv("DATABASE_URL", "postgresql://db/conference")
    clean_env.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigurationError, match="FLASK_DEBUG"):
        config_for("production")


def test_production_app_uses_psycopg_and_secure_cookies(clean_env):
    clean_env.setenv("SECRET_KEY", RANDOM_SECRET)
    clean_env.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    app = create_app("production")
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_production_keeps_accepting_what_a_retired_secret_key_signed(clean_env):
    from conference.core.security import sign_ticket_code, unsign_ticket_code

    clean_env.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    clean_env.setenv("SECRET_KEY", RANDOM_SECRET)
    with create_app("production").test_request_context():
        printed = sign_ticket_code("ticket-7")

    clean_env.setenv("SECRET_KEY", RANDOM_SECRET[::-1])
    clean_env.setenv("SECRET_KEY_FALLBACKS", f" {RANDOM_SECRET} , ")
    rotated = create_app("production")
    assert rotated.config["SECRET_KEY_FALLBACKS"] == [RANDOM_SECRET]
    with rotated.test_request_context():
        assert unsign_ticket_code(printed) == "ticket-7"

    clean_env.delenv("SECRET_KEY_FALLBACKS")
    with create_app("production").test_request_context():
        assert unsign_ticket_code(printed) is None


def test_unknown_environment_is_refused(clean_env):
    with pytest.raises(ConfigurationError, match="CONFERENCE_ENV"):
        config_for("staging")


def test_wsgi_entry_point_refuses_to_start_and_says_why(clean_env):
    import subprocess
    import sys
    from pathlib import Path

    env = {"PATH": "/usr/bin:/bin", "CONFERENCE_ENV": "production", "SECRET_KEY": RANDOM_SECRET}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
