"""Settings for each environment.

Every value a deployment may need to change is read from the environment, so
no secret lives in the repository. Production refuses to start when a
required secret is missing instead of silently falling back to a default.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


class ConfigurationError(RuntimeError):
    """Raised when the environment lacks a setting the chosen config needs."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _env_list(name: str) -> list[str]:
    """A comma-separated variable as a list, without blanks."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Defaults shared by every environment."""

    ENV_NAME = "base"
    SECRET_KEY: str | None = None
    # Keys being retired, oldest first: sessions, ticket QR codes and sealed
    # second-factor keys made with them are still accepted (README, Production).
    SECRET_KEY_FALLBACKS: list[str] = []
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # A new visitor's registration form may show the free places as read by this
    # process up to this many seconds ago (a rush asks hundreds of times a second);
    # a booking is always decided from a fresh read.
    REGISTRATION_GLANCE_SECONDS = _env_float("REGISTRATION_GLANCE_SECONDS", 0.5)

    # Pooled connections the server closed (a restart, a failover) are replaced
    # at checkout by looking at their socket, not by pool_pre_ping's round trip
    # per checkout (conference/core/db.py).
    DATABASE_REPLACE_CLOSED_CONNECTIONS = True

    # Languages: Danish first, English second.
    LANGUAGES = ("da", "en")
    BABEL_DEFAULT_LOCALE = "da"
    BABEL_DEFAULT_TIMEZONE = "Europe/Copenhagen"
    BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "translations")

    # Links in e-mails need the public address of the site.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    # Outgoing e-mail (used only by the outbox worker).
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_USE_STARTTLS = _env_bool("MAIL_USE_STARTTLS", False)
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
    MAIL_TIMEOUT = _env_int("MAIL_TIMEOUT", 30)
    MAIL_FROM = os.environ.get("MAIL_FROM", "Digitaliseringstræf <tilmelding@example.dk>")
    MAIL_MAX_ATTEMPTS = _env_int("MAIL_MAX_ATTEMPTS", 8)
    # Show the outbox in the browser at /_outbox (development only).
    MAIL_VIEWER = False

    # Waiting-list offers hold places this long.
    OFFER_VALID_HOURS = _env_int("OFFER_VALID_HOURS", 48)
    # Card payments hold places this long while the booker is in Stripe Checkout.
    HOLD_MINUTES = _env_int("HOLD_MINUTES", 20)
    # Stripe. Without a secret key the card option is hidden (the demo runs offline).
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY") or None
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    # Only for tests and local fakes: where the stripe library sends its requests.
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE") or None
    # Where Checkout pages live (a custom Checkout domain changes it): the content
    # security policy lets the registration form's redirect go there.
    STRIPE_CHECKOUT_ORIGIN = os.environ.get("STRIPE_CHECKOUT_ORIGIN", "https://checkout.stripe.com")

    # Invoicing. Prefixes are formatted with the issue year: one gap-free series each.
    INVOICE_NUMBER_PREFIX = os.environ.get("INVOICE_NUMBER_PREFIX", "{year}-")
    CREDIT_NOTE_NUMBER_PREFIX = os.environ.get("CREDIT_NOTE_NUMBER_PREFIX", "K{year}-")
    # Days to pay an invoice; public buyers never get more than 30 (betalingsfrist).
    INVOICE_PAYMENT_DAYS = _env_int("INVOICE_PAYMENT_DAYS", 30)

    # Rate limits (Flask-Limiter). Use Redis when there is more than one app server.
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    REGISTRATION_RATE_LIMIT = os.environ.get("REGISTRATION_RATE_LIMIT", "30 per minute")
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    # Per staff user, on top of LOGIN_RATE_LIMIT per address: guessing a 6-digit
    # code from many addresses still gets this many tries.
    SECOND_FACTOR_RATE_LIMIT = os.environ.get("SECOND_FACTOR_RATE_LIMIT", "5 per minute")
    MANAGE_RATE_LIMIT = os.environ.get("MANAGE_RATE_LIMIT", "120 per minute")
    # "Send me my link again": per address as the registration, and per e-mail address
    # asked for, since each request replaces that person's links with new ones.
    LINK_REQUEST_RATE_LIMIT = os.environ.get("LINK_REQUEST_RATE_LIMIT", "3 per hour")
    # Days after an edition ends before its personal data is erased at the latest
    # (the privacy page says so; `flask privacy erase` does it).
    PRIVACY_RETENTION_DAYS = _env_int("PRIVACY_RETENTION_DAYS", 90)
    # Number of proxies in front of the app that set X-Forwarded-For.
    PROXY_COUNT = _env_int("PROXY_COUNT", 0)

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    MAX_CONTENT_LENGTH = 5 * 1024 * 1024

    def validate(self) -> None:
        """Check the settings before the app starts; raise ConfigurationError."""


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY", "development-only-not-secret")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'conference.db'}"
    )
    MAIL_VIEWER = True


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-only-not-secret"  # noqa: S105 - tests only
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    # Tests change the places and look at the form at once.
    REGISTRATION_GLANCE_SECONDS = 0.0
    MAIL_VIEWER = False
    PUBLIC_BASE_URL = "http://localhost"


class ProductionConfig(Config):
    ENV_NAME = "production"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    #: Values that must never reach production.
    KNOWN_DEV_SECRETS = {"development-only-not-secret", "testing-only-not-secret", "changeme"}

    def validate(self) -> None:
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(name)]
        if missing:
            raise ConfigurationError(
                "Production needs these environment variables: " + ", ".join(missing)
            )
        secret = self.SECRET_KEY or ""
        # Long but made of a few characters ("x" * 48, a repeated word) is not random.
        if secret in self.KNOWN_DEV_SECRETS or len(secret) < 32 or len(set(secret)) < 16:
            raise ConfigurationError(
                "SECRET_KEY must be a random value of at least 32 characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if _env_bool("FLASK_DEBUG", False):
            raise ConfigurationError("Production refuses to run with FLASK_DEBUG on")


_CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None = None) -> Config:
    """Return a fresh, validated settings object for the named environment."""
    name = name or os.environ.get("CONFERENCE_ENV", "development")
    try:
        config_class = _CONFIGS[name]
    except KeyError:
        raise ConfigurationError(
            f"Unknown CONFERENCE_ENV {name!r}; use one of {', '.join(_CONFIGS)}"
        ) from None
    config = config_class()
    # Class attributes were read at import time; read the environment again so a
    # process that sets variables before create_app() gets what it set.
    if name == "production":
        config.SECRET_KEY = os.environ.get("SECRET_KEY")
        config.SECRET_KEY_FALLBACKS = _env_list("SECRET_KEY_FALLBACKS")
        config.SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    config.validate()
    return config
