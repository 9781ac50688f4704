"""The development mail viewer at /_outbox."""

from __future__ import annotations

import icalendar

from conference.core.db import db
from conference.registration.services import place_order
from tests.conftest import booking_details
from tests.mail.helpers import outbox


def test_viewer_does_not_exist_outside_development(app, client, edition):
    place_order(edition, booking_details(edition, 1))
    db.session.commit()
    message = outbox()[0]
    assert app.config["MAIL_VIEWER"] is False
    for path in (
        "/_outbox",
        f"/_outbox/{message.id}",
        f"/_outbox/{message.id}/html",
        f"/_outbox/{message.id}/attachments/0",
        f"/_outbox/{message.id}/eml",
    ):
        assert client.get(path).status_code == 404, path


def test_development_settings_turn_the_viewer_on():
    from config import config_for

    assert config_for("development").MAIL_VIEWER is True
    assert config_for("testing").MAIL_VIEWER is False


def test_viewer_lists_messages_newest_first_and_shows_one(app, client, edition):
    app.config["MAIL_VIEWER"] = True
    place_order(edition, booking_details(edition, 1, booker_name="<script>alert(1)</script>"))
    db.session.commit()
    confirmation, ticket = outbox()
    confirmation.subject = "Older message"
    db.session.commit()

    page = client.get("/_outbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index(ticket.subject) < html.index("Older message")
    assert "kollega1@aarhus.dk" in html and "hanne@aarhus.dk" in html
    assert "pending" in html
    assert f'href="/_outbox/{ticket.id}"' in html

    page = client.get(f"/_outbox/{ticket.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<iframe class="outbox-html" src="/_outbox/{ticket.id}/html" sandbox' in html
    assert f'href="/_outbox/{ticket.id}/attachments/0"' in html
    # The manage link in the text version is clickable in the viewer.
    assert '<a href="http://localhost/m/' in html
    assert "<script>alert(1)</script>" not in html


def test_mail_html_is_served_sandboxed(app, client, edition):
    app.config["MAIL_VIEWER"] = True
    place_order(edition, booking_details(edition, 1, booker_name="<script>alert(1)</script>"))
    db.session.commit()
    ticket = outbox("ticket")[0]

    response = client.get(f"/_outbox/{ticket.id}/html")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox;")
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    body = response.get_data(as_text=True)
    assert body == ticket.body_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_attachment_and_raw_message_download(app, client, edition):
    app.config["MAIL_VIEWER"] = True
    place_order(edition, booking_details(edition, 1))
    db.session.commit()
    ticket = outbox("ticket")[0]

    response = client.get(f"/_outbox/{ticket.id}/attachments/0")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert "attachment" in response.headers["Content-Disposition"]
    calendar = icalendar.Calendar.from_ical(response.data)
    assert str(next(iter(calendar.walk("VEVENT")))["summary"]) == edition.name
    ticket_pdf = client.get(f"/_outbox/{ticket.id}/attachments/1")
    assert ticket_pdf.mimetype == "application/pdf" and ticket_pdf.data.startswith(b"%PDF")
    assert client.get(f"/_outbox/{ticket.id}/attachments/2").status_code == 404
    assert client.get("/_outbox/999999").status_code == 404

    raw = client.get(f"/_outbox/{ticket.id}/eml")
    assert raw.status_code == 200
    assert b"Subject: " in raw.data and b"text/calendar" in raw.data
