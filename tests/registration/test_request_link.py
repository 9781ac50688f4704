""" "Send me my link again": a booker or participant who lost the e-mail gets new links."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conference import create_app
from conference.core.db import db
from conference.core.models import AuditEvent
from conference.mail.models import OutboxMessage
from conference.registration.services import cancel_attendee, place_order
from tests.conftest import booking_details, csrf_token_from
from tests.mail.helpers import manage_path, outbox

NEUTRAL = "har vi sendt linkene dertil nu"


def _order(edition, count=2, **overrides):
    placed = place_order(edition, booking_details(edition, count, **overrides))
    db.session.commit()
    return placed


def _ask(client, edition, email: str, **kwargs):
    slug = edition if isinstance(edition, str) else edition.slug
    return client.post(f"/e/{slug}/my-link", data={"email": email}, **kwargs)


def _mail_count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def test_the_event_page_leads_to_the_form(client, edition):
    page = client.get(f"/e/{edition.slug}").get_data(as_text=True)
    assert f'href="/e/{edition.slug}/my-link"' in page
    form = client.get(f"/e/{edition.slug}/my-link")
    assert form.status_code == 200
    text = form.get_data(as_text=True)
    assert "Få dit link igen" in text and 'name="email"' in text
    assert "holder op med at virke" in text  # says the old links stop working


def test_the_booker_gets_the_confirmation_again_with_a_new_link(client, edition):
    placed = _order(edition)
    old_path = f"/m/{placed.booker_token}"
    assert client.get(old_path).status_code == 200
    before = len(outbox("order_confirmation", "hanne@aarhus.dk"))

    response = _ask(client, edition, "  Hanne@Aarhus.DK ")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert NEUTRAL in page and "Hanne@Aarhus.DK" in page

    confirmations = outbox("order_confirmation", "hanne@aarhus.dk")
    assert len(confirmations) == before + 1
    new_path = manage_path(confirmations[-1].body_text)
    assert new_path != old_path
    assert client.get(new_path).status_code == 200
    gone = client.get(old_path)
    assert gone.status_code == 404
    assert "Arrangementets side kan sende det igen" in gone.get_data(as_text=True)
    (audit,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "mail.resent")
    ).all()
    assert audit.actor == "public" and audit.data["to"] == "hanne@aarhus.dk"


def test_a_participant_gets_the_ticket_and_a_cancelled_place_gets_nothing(client, edition):
    placed = _order(edition, 2)
    cancel_attendee(placed.order.attendees[1], actor="test")
    db.session.commit()
    before = _mail_count()

    _ask(client, edition, "kollega1@aarhus.dk")
    tickets = outbox("ticket", "kollega1@aarhus.dk")
    assert len(tickets) == 2  # the first ticket and the one sent again
    assert client.get(manage_path(tickets[-1].body_text)).status_code == 200

    _ask(client, edition, "kollega2@aarhus.dk")
    assert _mail_count() == before + 1


def test_an_unknown_address_gets_the_same_answer_and_nothing_is_sent(client, edition):
    _order(edition)
    before = _mail_count()
    response = _ask(client, edition, "ukendt@example.dk")
    assert response.status_code == 303
    assert NEUTRAL in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _mail_count() == before


def test_a_registration_for_another_edition_is_not_sent(client, edition):
    from conference.events.commands import create_demo_edition

    other = create_demo_edition(edition.starts_at.year + 1)
    db.session.commit()
    _order(edition)
    before = _mail_count()
    _ask(client, other, "hanne@aarhus.dk")
    assert _mail_count() == before


@pytest.mark.parametrize(
    ("email", "message"),
    [("", "Feltet skal udfyldes."), ("ikke-en-adresse", "Skriv en gyldig e-mailadresse.")],
)
def test_a_bad_address_is_shown_at_its_field_and_nothing_is_sent(client, edition, email, message):
    _order(edition)
    before = _mail_count()
    response = _ask(client, edition, email)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert message in text and 'id="error-summary"' in text and 'aria-invalid="true"' in text
    assert _mail_count() == before


def test_the_page_speaks_english(client, edition):
    text = client.get(f"/e/{edition.slug}/my-link?lang=en").get_data(as_text=True)
    assert "Get your link again" in text
    response = _ask(client, edition, "nobody@example.dk")
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "we have sent the links there now" in text


def test_one_address_can_be_asked_for_only_a_few_times_an_hour(database_url, edition):
    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_ENABLED": True,
            "LINK_REQUEST_RATE_LIMIT": "2 per hour",
        },
    )
    client = app.test_client()
    edition = edition.slug  # read now: after the commit a read would hold SQLite's lock
    db.session.commit()  # SQLite: end the fixture's transaction so the other app can write
    for number in range(2):
        address = {"REMOTE_ADDR": f"10.0.0.{number + 1}"}
        assert _ask(client, edition, "hanne@aarhus.dk", environ_base=address).status_code == 303
    refused = _ask(client, edition, "HANNE@aarhus.dk", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert refused.status_code == 429
    assert "For mange forsøg" in refused.get_data(as_text=True)
    # Someone else's address is not held up.
    other = _ask(client, edition, "kollega1@aarhus.dk", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 303


def test_the_form_needs_its_csrf_token(database_url, edition):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url, "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    slug = edition.slug
    db.session.commit()  # as above
    assert _ask(client, slug, "hanne@aarhus.dk").status_code == 400
    token = csrf_token_from(client.get(f"/e/{slug}/my-link").get_data(as_text=True))
    response = client.post(
        f"/e/{slug}/my-link", data={"email": "ukendt@example.dk", "csrf_token": token}
    )
    assert response.status_code == 303
    assert _mail_count() == 0
