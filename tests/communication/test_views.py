"""The organiser's screens: compose, preview (writes nothing), send, history with statuses."""

from __future__ import annotations

from sqlalchemy import func, select, update

from conference.communication.models import CommunicationMessage, CommunicationRecipient
from conference.core.db import db
from conference.mail.models import OutboxMessage, OutboxStatus
from conference.mail.services import render_message
from tests.auth.helpers import log_in, make_staff

EVIL_SUBJECT = '<script>alert("s")</script> Husk'
EVIL_BODY = '<img src=x onerror=alert(1)>\n\n<b>fed</b> & "citat"'


def _form(edition, **overrides):
    data = {
        "subject": "Praktisk information",
        "body": "Husk navneskiltet.\n\nVi ses!",
        "subject_en": "",
        "body_en": "",
        "organisation": "",
        "ticket_type_id": "",
    }
    data.update(overrides)
    return data


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_back_office_links_to_messages(organiser, edition):
    page = organiser.get(f"/staff/e/{edition.slug}").get_data(as_text=True)
    assert f'href="/staff/e/{edition.slug}/messages"' in page


def test_compose_offers_the_edition_s_organisations_and_ticket_types(organiser, edition, orders):
    page = organiser.get(f"/staff/e/{edition.slug}/messages/new").get_data(as_text=True)
    assert "Odense Kommune" in page and "KL" in page
    assert "Speaker" in page


def test_preview_shows_mail_count_and_list_and_writes_nothing(organiser, edition, orders):
    outbox_before = _count(OutboxMessage)
    response = organiser.post(
        f"/staff/e/{edition.slug}/messages/preview",
        data=_form(edition, organisation="Aarhus Kommune"),
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "2 recipients" in page
    assert "anna@aarhus.dk" in page and "HANNE@aarhus.dk" in page
    assert "ole@odense.dk" not in page
    assert "Kære Anna Andersen" in page  # the mail as Anna gets it (her order is Danish)
    assert 'name="expected_count" type="hidden" value="2"' in page
    db.session.rollback()
    assert _count(OutboxMessage) == outbox_before
    assert _count(CommunicationMessage) == 0


def test_errors_show_next_to_their_field_and_nothing_is_sent(organiser, edition, orders):
    response = organiser.post(
        f"/staff/e/{edition.slug}/messages/preview",
        data=_form(edition, subject="", ticket_type_id="1e30"),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Choose one of the edition" in page
    response = organiser.post(
        f"/staff/e/{edition.slug}/messages/preview", data=_form(edition, subject=" ")
    )
    assert response.status_code == 422
    assert 'id="subject-error"' in response.get_data(as_text=True)
    response = organiser.post(
        f"/staff/e/{edition.slug}/messages/preview",
        data=_form(edition, organisation="Ingen Kommune"),
    )
    assert response.status_code == 422
    assert "No one matches this filter." in response.get_data(as_text=True)
    assert _count(CommunicationMessage) == 0


def test_sending_needs_the_ticked_box(organiser, edition, orders):
    response = organiser.post(
        f"/staff/e/{edition.slug}/messages/send", data=_form(edition, expected_count="4")
    )
    assert response.status_code == 422
    assert "Tick the box to confirm sending." in response.get_data(as_text=True)
    assert _count(CommunicationMessage) == 0


def test_send_records_the_message_and_the_history_shows_statuses(organiser, edition, orders):
    response = organiser.post(
        f"/staff/e/{edition.slug}/messages/send",
        data=_form(edition, include_bookers="y", expected_count="6", confirm="y"),
    )
    assert response.status_code == 302
    message = db.session.scalar(select(CommunicationMessage))
    assert message.recipient_count == 6
    assert message.sent_by.startswith("staff:")
    assert message.audience["include_bookers"] is True
    assert response.headers["Location"].endswith(f"/messages/{message.id}")
    # The worker delivered one and gave up on another.
    ids = [r.outbox_message_id for r in message.recipients]
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == ids[0]).values(status=OutboxStatus.SENT)
    )
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == ids[1]).values(status=OutboxStatus.FAILED)
    )
    db.session.commit()

    history = organiser.get(f"/staff/e/{edition.slug}/messages").get_data(as_text=True)
    assert "Praktisk information" in history
    assert "1 sent, 4 waiting, 1 failed" in history
    assert "and their bookers" in history

    detail = organiser.get(f"/staff/e/{edition.slug}/messages/{message.id}").get_data(as_text=True)
    assert detail.count('data-status="sent"') == 1
    assert detail.count('data-status="failed"') == 1
    assert detail.count('data-status="pending"') == 4
    for address in ("anna@aarhus.dk", "bo@odense.dk", "kim@kl.dk"):
        assert address in detail
    assert "organiser@example.dk" in detail  # who sent it


def test_a_changed_audience_since_the_preview_sends_nothing(organiser, edition, orders):
    response = organiser.post(
        f"/staff/e/{edition.slug}/messages/send",
        data=_form(edition, expected_count="3", confirm="y"),
    )
    assert response.status_code == 409
    assert "have changed since the preview" in response.get_data(as_text=True)
    assert _count(CommunicationMessage) == 0


def test_html_and_script_are_escaped_everywhere(organiser, edition, orders):
    data = _form(edition, subject=EVIL_SUBJECT, body=EVIL_BODY)
    preview = organiser.post(f"/staff/e/{edition.slug}/messages/preview", data=data).get_data(
        as_text=True
    )
    assert (
        "<script>alert" not in preview
        and "<img src=x" not in preview
        and "<b>fed</b>" not in preview
    )
    assert "&lt;script&gt;" in preview and "&lt;img src=x onerror=alert(1)&gt;" in preview
    organiser.post(
        f"/staff/e/{edition.slug}/messages/send",
        data={**data, "expected_count": "4", "confirm": "y"},
    )
    message = db.session.scalar(select(CommunicationMessage))
    for url in (
        f"/staff/e/{edition.slug}/messages",
        f"/staff/e/{edition.slug}/messages/{message.id}",
    ):
        page = organiser.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;" in page
    recipient = db.session.scalar(
        select(CommunicationRecipient).order_by(CommunicationRecipient.id)
    )
    mail = render_message(db.session.get(OutboxMessage, recipient.outbox_message_id))
    assert mail.subject == EVIL_SUBJECT  # a header is text, not HTML
    assert "<img src=x" not in mail.body_html and "<b>fed</b>" not in mail.body_html
    assert "<script>" not in mail.body_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in mail.body_html
    assert "&lt;b&gt;fed&lt;/b&gt; &amp; &#34;citat&#34;" in mail.body_html
    assert "<img src=x onerror=alert(1)>" in mail.body_text  # plain text stays as typed


def test_a_message_of_another_edition_is_404(organiser, edition, orders):
    assert organiser.get(f"/staff/e/{edition.slug}/messages/999").status_code == 404


def test_only_organisers_reach_the_messages(app, edition, orders):
    for role in ("accounting", "checkin"):
        make_staff(f"{role}@example.dk", role)
        client = app.test_client()
        log_in(client, f"{role}@example.dk")
        assert client.get(f"/staff/e/{edition.slug}/messages").status_code == 403
        assert (
            client.post(
                f"/staff/e/{edition.slug}/messages/send",
                data=_form(edition, expected_count="4", confirm="y"),
            ).status_code
            == 403
        )
    assert _count(CommunicationMessage) == 0
