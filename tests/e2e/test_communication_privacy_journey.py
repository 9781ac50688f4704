"""An organiser writes to the participants and later erases the edition's personal data;
a participant downloads their data and reads the privacy page. Screenshots of every
new screen, in Danish and English, are kept in tests/artifacts/screens/."""

from __future__ import annotations

import json
import re

from conference.core.db import db
from tests.auth.helpers import PASSWORD, make_staff
from tests.e2e.conftest import ARTIFACTS, end_transaction
from tests.privacy.conftest import fill, move_to_the_past

SCREENS = ARTIFACTS / "screens"


def _shot(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def _both_languages(page, url: str, name: str) -> None:
    for language in ("en", "da"):
        page.goto(f"{url}{'&' if '?' in url else '?'}lang={language}")
        _shot(page, f"{name}-{language}")


def test_write_preview_send_download_and_erase(live_server, page, edition):
    make_staff("organiser@example.dk")
    filled = fill(edition)
    slug = edition.slug
    end_transaction()

    page.goto(f"{live_server}/staff/login")
    page.fill("input[name=email]", "organiser@example.dk")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("Log ind")).click()
    page.goto(f"{live_server}/staff/e/{slug}")
    page.get_by_role("link", name="Beskeder til deltagerne").click()
    page.get_by_role("link", name="Skriv til deltagerne").click()
    page.fill("input[name=subject]", "Praktisk <b>info</b>")
    page.fill("textarea[name=body]", "Husk navneskiltet.\n\n<script>alert(1)</script>")
    page.select_option("select[name=organisation]", "Aarhus Kommune")
    page.check("input[name=include_bookers]")
    page.get_by_role("button", name="Forhåndsvisning").click()
    text = page.inner_text("#preview")
    assert "<script>alert(1)</script>" in text  # shown as text, not run
    assert "3 modtagere" in text  # Anna, Mads (who took Bent's place) and the booker
    _shot(page, "compose-preview-da")
    page.get_by_role("button", name=re.compile("Send til 3 modtagere")).click()
    assert "Sæt kryds for at bekræfte afsendelsen." in page.inner_text("main")
    page.check("#confirm-send")
    page.get_by_role("button", name=re.compile("Send til 3 modtagere")).click()
    page.wait_for_url(re.compile(r"/messages/\d+$"))
    assert "Venter på at blive sendt" in page.inner_text("#message-copies")
    message_url = page.url
    _both_languages(page, message_url, "message")
    _both_languages(page, f"{live_server}/staff/e/{slug}/messages", "history")
    _both_languages(page, f"{live_server}/staff/e/{slug}/messages/new", "compose")
    page.goto(f"{live_server}/staff/e/{slug}/messages/new?lang=en")
    page.fill("input[name=subject]", "")
    page.get_by_role("button", name="Preview").click()
    assert "Write a subject." in page.inner_text("main")
    _shot(page, "compose-errors-en")

    # A participant reads the privacy page and downloads their data.
    _both_languages(page, f"{live_server}/e/{slug}/privacy", "privacy-page")
    manage = f"{live_server}/m/{filled.placed.booker_token}"
    _both_languages(page, manage, "manage-with-download")
    data = page.request.get(f"{manage}/my-data.json").json()
    assert data["order"]["booker"]["email"] == "hanne@aarhus.dk"
    assert json.dumps(data)

    # After the edition: the organiser erases its personal data.
    move_to_the_past(edition)
    end_transaction()
    _both_languages(page, f"{live_server}/staff/e/{slug}/privacy", "erasure-before")
    page.goto(f"{live_server}/staff/e/{slug}/privacy?lang=da")
    page.check("#confirm-erase")
    page.get_by_role("button", name="Slet persondata").click()
    assert "Slettet den" in page.inner_text("#erasure-status")
    _both_languages(page, f"{live_server}/staff/e/{slug}/privacy", "erasure-done")
    _both_languages(page, f"{live_server}/staff/e/{slug}", "dashboard-erased")
    _both_languages(page, manage, "link-erased")
    assert "virker ikke længere" in page.inner_text("main")
    db.session.rollback()
