""" "Send me my link again": a booker or participant who lost the e-mail gets new links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conference import create_app
from conference.core.db import db, utcnow
from conference.core.models import AuditEvent
from conference.events.services import change_capacity, places_left
from conference.mail.models import OutboxMessage
from conference.registration.models import WaitingListEntry, WaitingStatus
from conference.registration.services import (
    cancel_attendee,
    join_waiting_list,
    leave_waiting_list,
    place_order,
)
from tests.conftest import booking_details, csrf_token_from, rate_limited_app
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
    app = rate_limited_app(database_url, LINK_REQUEST_RATE_LIMIT="2 per hour")
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


# --- the waiting list ----------------------------------------------------------------


def _waiting_link(kind: str, to: str) -> str:
    mails = outbox(kind, to)
    assert mails, f"no {kind} e-mail to {to}"
    match = re.search(r"http://localhost(/w/\S+)", mails[-1].body_text)
    assert match, mails[-1].body_text
    return match.group(1)


def _on_the_waiting_list(edition, who: str, count: int = 2):
    """Fill the edition, then put ``who``'s group on its waiting list."""
    left = places_left(edition.quotas[0].id)
    place_order(edition, booking_details(edition, left, booker_email="first@kommune.dk"))
    db.session.commit()
    joined = join_waiting_list(
        edition, booking_details(edition, count, booker_email=f"{who}@kommune.dk")
    )
    db.session.commit()
    return joined


def test_a_group_on_the_waiting_list_gets_its_link_again(client, small_edition):
    joined = _on_the_waiting_list(small_edition, "venter")
    old_path = f"/w/{joined.token}"
    assert client.get(old_path).status_code == 200

    page = client.get(_ask(client, small_edition, "Venter@Kommune.dk").headers["Location"])
    assert NEUTRAL in page.get_data(as_text=True)

    new_path = _waiting_link("waiting_list_joined", "venter@kommune.dk")
    assert new_path != old_path
    waiting = client.get(new_path)
    assert waiting.status_code == 200
    assert '<span class="position-value" id="position">1</span>' in waiting.get_data(as_text=True)
    gone = client.get(old_path)
    assert gone.status_code == 404
    assert "Arrangementets side kan sende det igen" in gone.get_data(as_text=True)
    assert len(outbox("waiting_list_joined", "venter@kommune.dk")) == 2
    assert (
        db.session.scalar(
            select(func.count()).where(AuditEvent.action == "waiting_list.link_sent_again")
        )
        == 1
    )


def test_an_open_offer_is_sent_again_and_its_new_link_accepts_it(client, small_edition):
    _on_the_waiting_list(small_edition, "tilbud")
    change_capacity(small_edition.quotas[0].id, 7, actor="organiser@example.dk")
    db.session.commit()
    old_offer = _waiting_link("waiting_list_offer", "tilbud@kommune.dk")

    _ask(client, small_edition, "tilbud@kommune.dk")

    offers = outbox("waiting_list_offer", "tilbud@kommune.dk")
    assert len(offers) == 2
    new_offer = _waiting_link("waiting_list_offer", "tilbud@kommune.dk")
    assert new_offer != old_offer
    assert client.get(old_offer).status_code == 404
    offer_page = client.get(new_offer)
    html = offer_page.get_data(as_text=True)
    accepted = client.post(new_offer + "/accept", data={"csrf_token": csrf_token_from(html)})
    assert accepted.status_code == 303
    entry = db.session.scalar(select(WaitingListEntry))
    db.session.refresh(entry)
    assert entry.status == WaitingStatus.ACCEPTED


def test_an_offer_that_ran_out_and_a_group_that_left_get_nothing(client, small_edition):
    joined = _on_the_waiting_list(small_edition, "gaaet")
    leave_waiting_list(joined.token)
    join_waiting_list(
        small_edition, booking_details(small_edition, 2, booker_email="sent@kommune.dk")
    )
    db.session.commit()
    change_capacity(small_edition.quotas[0].id, 7, actor="organiser@example.dk")
    db.session.commit()
    entry = db.session.scalar(
        select(WaitingListEntry).where(WaitingListEntry.booker_email == "sent@kommune.dk")
    )
    assert entry.status == WaitingStatus.OFFERED
    entry.offer_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    before = _mail_count()

    _ask(client, small_edition, "gaaet@kommune.dk")
    _ask(client, small_edition, "sent@kommune.dk")

    assert _mail_count() == before
