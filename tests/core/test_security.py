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
    # Same-origin only: manage-link tokens never reach another site, while the
    # browser still sends the Referer that Flask-WTF requires on HTTPS posts.
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_forms_may_lead_to_stripe_checkout_only_when_card_payments_are_on(client, app, edition):
    # The registration form's POST is redirected to Checkout, and browsers apply
    # form-action to a redirect's target too (Chromium blocked the payment).
    csp = client.get(f"/e/{edition.slug}/register").headers["Content-Security-Policy"]
    assert "form-action 'self';" in csp + ";"
    app.config.update(STRIPE_SECRET_KEY="sk_test_x")
    csp = client.get(f"/e/{edition.slug}/register").headers["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com" in csp
    assert "default-src 'self'" in csp


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


def test_https_form_post_with_same_origin_referer_passes_csrf(app, edition):
    from sqlalchemy import func, select

    from conference.core.db import db
    from conference.registration.models import Order
    from tests.conftest import booking_form, csrf_token_from

    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    url = f"https://localhost/e/{edition.slug}/register"
    page = client.get(url)
    assert page.headers["Referrer-Policy"] == "same-origin"
    data = booking_form(edition, 1, csrf_token=csrf_token_from(page.get_data(as_text=True)))
    # What a browser sends under Referrer-Policy: same-origin.
    response = client.post(url, data=data, headers={"Referer": url})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    # Without the Referer (what "no-referrer" would cause) Flask-WTF refuses it.
    again = client.post(url, data=data)
    assert again.status_code == 400


def test_a_nul_character_anywhere_is_a_clear_400_and_writes_nothing(client, edition):
    from sqlalchemy import func, select

    from conference.core.db import db
    from conference.registration.models import Order
    from tests.conftest import booking_form

    for url in (f"/e/%00{edition.slug}", "/m/%00", f"/e/{edition.slug}?lang=%00"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "Forespørgslen kunne ikke behandles" in response.get_data(as_text=True)
    data = booking_form(edition, 1, booker_name="Hanne\x00Jensen")
    assert client.post(f"/e/{edition.slug}/register", data=data).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_every_kind_of_answer_has_the_security_headers(app, client, edition):
    """Pages behind links, files, JSON, refusals and staff screens: the headers are set
    on every response, not only on the public pages."""
    from conference.core.db import db
    from conference.registration.services import place_order
    from tests.auth.helpers import log_in, make_staff
    from tests.conftest import booking_details

    placed = place_order(edition, booking_details(edition, 1))
    db.session.commit()
    token, place = placed.booker_token, placed.order.attendees[0].id
    staff = app.test_client()
    make_staff()
    log_in(staff, "organiser@example.dk")
    responses = {
        "manage page": client.get(f"/m/{token}"),
        "ticket PDF": client.get(f"/m/{token}/ticket/{place}.pdf"),
        "personal data JSON": client.get(f"/m/{token}/my-data.json"),
        "QR code SVG": client.get(f"/m/{token}/qr/{place}.svg"),
        "webhook refusal": client.post("/payments/stripe/webhook", data="{}"),
        "method not allowed": client.delete(f"/e/{edition.slug}"),
        "staff screen": staff.get(f"/staff/e/{edition.slug}"),
        "staff CSV": staff.get(f"/staff/e/{edition.slug}/registrants.csv"),
        "static file": client.get("/static/css/app.css"),
    }
    for name, response in responses.items():
        headers = response.headers
        csp = headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["Referrer-Policy"] == "same-origin", name
    # What a link opens is personal: never cached, never indexed.
    for name in ("manage page", "ticket PDF", "personal data JSON"):
        assert responses[name].headers["Cache-Control"] == "no-store", name
        assert "noindex" in responses[name].headers["X-Robots-Tag"], name
    cookie = staff.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
