"""Every e-mail has a text and an HTML version with the same content, safely escaped."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

from conference.core.db import db, utcnow
from conference.events.services import change_capacity
from conference.registration.services import expire_offers, join_waiting_list, place_order
from tests.conftest import booking_details
from tests.mail.helpers import outbox

# The mails are in Danish, the default language.
BINDING = "Tilmeldingen er bindende, men du er velkommen til at sende en kollega."


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href", ""))


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _every_kind_of_mail(edition) -> None:
    """Produce all five kinds: confirmation, ticket, joined, offer, expired."""
    edition.quotas[0].capacity = 2
    db.session.commit()
    place_order(edition, booking_details(edition, 2))
    db.session.commit()
    waiting = booking_details(edition, 2, booker_email="venter@odense.dk")
    waiting.attendees[0].email = "a@odense.dk"
    waiting.attendees[1].email = "b@odense.dk"
    join_waiting_list(edition, waiting)
    db.session.commit()
    change_capacity(edition.quotas[0].id, 4, actor="organiser")
    db.session.commit()
    expire_offers(edition, now=utcnow() + timedelta(days=3))
    db.session.commit()


def test_every_mail_has_an_html_version_with_the_texts_links_and_binding_terms(edition):
    _every_kind_of_mail(edition)
    messages = outbox()
    kinds = {m.kind for m in messages}
    assert kinds == {
        "order_confirmation",
        "ticket",
        "waiting_list_joined",
        "waiting_list_offer",
        "waiting_list_expired",
    }
    for message in messages:
        assert message.body_html, message.kind
        html = message.body_html
        parsed = _parse(html)
        assert "html" in parsed.tags and "body" in parsed.tags
        # The subject is the HTML title, and the event is named in the header.
        assert f"<title>{message.subject}</title>" in html
        assert edition.name in html
        # Every link of the text version is clickable in the HTML version.
        text_links = [word for word in message.body_text.split() if word.startswith("http")]
        for link in text_links:
            assert link in parsed.hrefs, (message.kind, link)
        if BINDING in message.body_text:
            assert BINDING in html
        assert f"mailto:{edition.questions_email}" in parsed.hrefs


def test_confirmation_and_ticket_state_the_binding_terms_in_both_versions(edition):
    place_order(edition, booking_details(edition, 1))
    db.session.commit()
    for message in outbox():
        assert BINDING in message.body_text
        assert BINDING in message.body_html
        assert "kollega" in message.body_text.split(BINDING, 1)[1]


def test_names_typed_by_users_are_escaped_in_html_mail(edition):
    details = booking_details(edition, 1, booker_name="<script>alert(1)</script>")
    details.attendees[0].name = '<img src=x onerror="alert(2)">'
    place_order(edition, details)
    db.session.commit()
    confirmation, ticket = outbox("order_confirmation")[0], outbox("ticket")[0]
    for message in (confirmation, ticket):
        assert "<script>" not in message.body_html
        assert "<img" not in message.body_html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.body_html
        # The text version is plain text: it shows the name as typed.
        assert "<script>alert(1)</script>" in message.body_text
    assert "&lt;img src=x onerror=" in ticket.body_html


def test_mail_is_written_in_the_orders_language(edition):
    place_order(edition, booking_details(edition, 1))
    place_order(
        edition,
        booking_details(edition, 1, language="en", booker_email="jane@kommune.dk"),
    )
    db.session.commit()
    danish, english = outbox("order_confirmation")
    assert danish.language == "da" and english.language == "en"
    assert edition.name in danish.subject and edition.name_en in english.subject
    # Dates are formatted for the language (the weekday of the event).
    assert "mandag" in danish.body_text and "mandag" in danish.body_html
    assert "Monday" in english.body_text and "Monday" in english.body_html
    assert 'lang="da"' in danish.body_html and 'lang="en"' in english.body_html
