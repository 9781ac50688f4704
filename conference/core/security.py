"""Tokens for manage links, secrets kept at rest, security headers, CSRF and rate limits."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, abort, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import CSRFProtect
from itsdangerous import BadSignature, URLSafeSerializer

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def new_token() -> str:
    """A random 256-bit token for a manage or offer link (URL-safe text)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What we store: a SHA-256 of the token, so a database leak reveals no links."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_ticket_code() -> str:
    """The random code a ticket's QR identifies; rotated when a place changes hands."""
    return secrets.token_urlsafe(16)


def app_keys() -> list[str]:
    """The app's keys, oldest first: ``SECRET_KEY_FALLBACKS`` (Flask's own setting for
    a key being retired), then ``SECRET_KEY``, which alone signs and seals anything new."""
    config = current_app.config
    return [*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"]]


def _ticket_serializer() -> URLSafeSerializer:
    # itsdangerous signs with the last key and accepts every one: a QR code printed
    # before SECRET_KEY was changed still opens the door while the old key is a fallback.
    return URLSafeSerializer(app_keys(), salt="ticket-qr")


def sign_ticket_code(code: str) -> str:
    """The QR payload: the ticket code signed with the app's key, no personal data."""
    return _ticket_serializer().dumps(code)


def unsign_ticket_code(payload: str) -> str | None:
    """The ticket code of a scanned QR payload, or None if it was forged or garbled."""
    try:
        code = _ticket_serializer().loads(payload)
    except BadSignature:
        return None
    return code if isinstance(code, str) else None


# --- secrets kept at rest -------------------------------------------------------------
#
# A staff user's TOTP key must be read back to check a code, so it cannot be hashed
# like a password. It is sealed (Fernet: AES-128-CBC and an HMAC) with a key derived
# from the app's key, so a copy of the database alone does not give anyone the
# second factors.


class SealBroken(Exception):
    """A sealed value that none of the app's keys opens (or that was altered)."""


def _sealer(app_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"conference sealed secrets"
    ).derive(app_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))


def _sealers() -> MultiFernet:
    # MultiFernet seals with the first and opens with any: the current key first.
    return MultiFernet([_sealer(key) for key in reversed(app_keys())])


def seal(secret: str) -> str:
    """``secret`` sealed with the current ``SECRET_KEY``, as text for a column."""
    return _sealers().encrypt(secret.encode("utf-8")).decode("ascii")


def unseal(sealed: str) -> str:
    """What ``seal`` sealed, under the current key or a fallback; SealBroken otherwise."""
    try:
        return _sealers().decrypt(sealed.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as error:
        raise SealBroken from error


def sealed_with_current_key(sealed: str) -> bool:
    """Whether the current ``SECRET_KEY`` (not a fallback) opens ``sealed``."""
    try:
        _sealer(current_app.config["SECRET_KEY"]).decrypt(sealed.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@functools.lru_cache(maxsize=8)
def _policy(form_action: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "img-src 'self' data:",
            "style-src 'self'",
            "script-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            f"form-action {form_action}",
        ]
    )


CONTENT_SECURITY_POLICY = _policy("'self'")
FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def content_security_policy(config) -> str:
    """The site's policy; with card payments on, forms may also lead to Stripe Checkout.

    Browsers apply form-action to where a form's answer redirects as well: the
    registration form's POST is answered with a redirect to Checkout, which
    ``form-action 'self'`` alone blocks (Chromium refuses to follow it).
    """
    origin = config.get("STRIPE_CHECKOUT_ORIGIN") if config.get("STRIPE_SECRET_KEY") else None
    if not origin:
        return CONTENT_SECURITY_POLICY
    return _policy(f"'self' {origin}")


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its serializer built once per set of keys.

    Flask builds a new serializer (and test-serializes an empty dict to learn
    its kind) for every request that opens or saves the session; a rush makes
    thousands of those a second. The serializer keeps no state between calls.
    """

    _built: tuple[tuple, object] | None = None

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        built = self._built
        if built is None or built[0] != keys:
            # One tuple, assigned at once: a thread reading it sees the old or the new.
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def init_security(app: Flask) -> None:
    """CSRF on every form, rate limits, and security headers on every response."""
    app.session_interface = SignedCookieSessions()
    csrf.init_app(app)
    limiter.init_app(app)

    @app.before_request
    def refuse_nul_characters():
        # Nobody types a NUL character, and PostgreSQL cannot store or even
        # compare one in text: a path, query or form value with one would end
        # in a database error. Refuse the request before anything reads it.
        values = [request.path, *request.args.values()]
        if request.method == "POST" and request.mimetype in FORM_MIMETYPES:
            values.extend(request.form.values())
        if any("\x00" in value for value in values):
            abort(400)

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        # One look at what the view set, then the rest added: werkzeug's
        # setdefault searches the headers (raising a KeyError inside on a miss)
        # once per header, which cost every request more than its CSRF check.
        present = {name.lower() for name, _ in headers}
        for name, value in _security_headers(
            content_security_policy(app.config), bool(app.config.get("SESSION_COOKIE_SECURE"))
        ):
            if name.lower() not in present:
                headers.add(name, value)
        return response


@functools.lru_cache(maxsize=8)
def _security_headers(policy: str, over_https_only: bool) -> tuple[tuple[str, str], ...]:
    headers = [
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        # Manage links carry secrets in the URL: never send them to another site. Not
        # "no-referrer": Flask-WTF checks the Referer of HTTPS form posts.
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "geolocation=(), microphone=()"),
    ]
    if over_https_only:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return tuple(headers)
