"""Security headers, tokens and the signed ticket code."""

from __future__ import annotations

from conference.core.security import (
    hash_token,
    new_token,
    sign_ticket_code,
    unsign_ticket_code,
)


def test_every_page_has_security_headers(client, edition):
    response = client.get(f"/e/{edition.slug}")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_not_found_page_is_friendly_and_has_headers(client, app):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Content-Security-Policy" in response.headers
    assert b"<html" in response.data


def test_manage_tokens_are_256_bit_and_stored_hashed():
    token = new_token()
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert new_token() != token
    assert hash_token(token) != token and len(hash_token(token)) == 64


def test_ticket_code_signature_detects_forgery(app):
    payload = sign_ticket_code("abc123")
    assert unsign_ticket_code(payload) == "abc123"
    assert unsign_ticket_code(payload[:-2] + "xx") is None
    assert unsign_ticket_code("abc123") is None
