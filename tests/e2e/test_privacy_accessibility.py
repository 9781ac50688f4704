"""axe-core on the privacy page, the manage page's data panel, an erased link's page and
the organiser's message and erasure screens, in Danish and English."""

from __future__ import annotations

import pytest

from conference.communication.services import Audience, MessageText, send_message
from tests.auth.helpers import make_staff, submit_staff_login
from tests.e2e.test_accessibility import LANGUAGES, Audit, _quiet
from tests.e2e.test_accessibility import axe_page as axe_page  # the fixture
from tests.privacy.conftest import fill, move_to_the_past


@pytest.mark.parametrize("language", LANGUAGES)
def test_privacy_and_message_screens(live_server, axe_page, edition, language):
    make_staff("organiser@example.dk")
    filled = fill(edition)
    message = send_message(
        edition, Audience(), MessageText("Emne", "Tekst\n\nAfsnit"), actor="staff:1"
    )
    from conference.core.db import db

    db.session.commit()
    message_id = message.id
    slug = edition.slug
    _quiet()
    page = axe_page
    audit = Audit(page, language)
    page.goto(f"{live_server}/e/{slug}/privacy?lang={language}")
    audit.check("privacy page")
    page.goto(f"{live_server}/m/{filled.placed.booker_token}?lang={language}")
    audit.check("manage page with the data panel")

    submit_staff_login(page, live_server, "organiser@example.dk", language)
    for url, name in (
        (f"/staff/e/{slug}/messages", "message history"),
        (f"/staff/e/{slug}/messages/new", "compose"),
        (f"/staff/e/{slug}/messages/{message_id}", "one message"),
        (f"/staff/e/{slug}/privacy", "erasure screen before the edition"),
    ):
        page.goto(f"{live_server}{url}?lang={language}")
        audit.check(name)
    page.goto(f"{live_server}/staff/e/{slug}/messages/new?lang={language}")
    page.fill("input[name=subject]", "Emne")
    page.fill("textarea[name=body]", "Tekst")
    page.click("form[action$='/preview'] button[type=submit]")
    audit.check("preview")

    move_to_the_past(edition)
    _quiet()
    page.goto(f"{live_server}/staff/e/{slug}/privacy?lang={language}")
    page.check("#confirm-erase")
    page.click("form[action$='/erase'] button[type=submit]")
    audit.check("erasure screen after erasing")
    page.goto(f"{live_server}/m/{filled.placed.booker_token}?lang={language}")
    audit.check("an erased link")
    audit.assert_clean()
