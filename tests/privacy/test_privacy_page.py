"""The public privacy page, in Danish and English, linked from the footer and the form."""

from __future__ import annotations


def test_the_page_says_what_why_how_long_and_whom_to_ask(client, edition):
    page = client.get(f"/e/{edition.slug}/privacy?lang=en").get_data(as_text=True)
    for words in (
        "What we keep",
        "dietary needs",
        "Why",
        "at the latest 90 days after it has ended",
        "five years",
        edition.contact_email,
        edition.contact_name,
    ):
        assert words in page, words


def test_the_page_in_danish(client, edition):
    page = client.get("/privacy?lang=da").get_data(as_text=True)
    assert "Hvad vi gemmer" in page
    assert edition.contact_email in page


def test_the_footer_and_the_registration_form_link_to_it(client, edition):
    for url in (f"/e/{edition.slug}", f"/e/{edition.slug}/register"):
        page = client.get(url).get_data(as_text=True)
        assert f'href="/e/{edition.slug}/privacy"' in page, url
    assert 'href="/privacy"' in client.get("/staff/login").get_data(as_text=True)


def test_without_any_edition_the_page_still_answers(client, app):
    page = client.get("/privacy?lang=en")
    assert page.status_code == 200
    assert "Write to the organiser" in page.get_data(as_text=True)


def test_an_unknown_edition_is_404(client, app):
    assert client.get("/e/nope/privacy").status_code == 404
