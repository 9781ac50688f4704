"""Dates and prices the way each language's readers in Denmark expect them."""

from __future__ import annotations


def test_danish_page_shows_danish_dates_and_prices(client, edition):
    page = client.get(f"/e/{edition.slug}").get_data(as_text=True)
    assert "april" in page and "08.30" in page
    assert "2.575,00\xa0kr." in page


def test_english_page_shows_british_dates_and_24_hour_clock(client, edition):
    page = client.get(f"/e/{edition.slug}?lang=en").get_data(as_text=True)
    day = edition.starts_at.day
    assert f"{day} April" in page  # British order, not "April 5"
    assert "08:30" in page and "AM" not in page
    assert "DKK\xa02,575.00" in page


def test_language_choice_is_remembered(client, edition):
    client.get(f"/e/{edition.slug}?lang=en")
    assert "Registration" in client.get(f"/e/{edition.slug}").get_data(as_text=True)
    back = client.get(f"/e/{edition.slug}?lang=da").get_data(as_text=True)
    assert "Tilmelding" in back


def test_a_moment_reads_with_kl_in_danish_and_at_in_english(app):
    from datetime import datetime

    from flask import render_template_string

    from conference.core.i18n import force_locale

    moment = datetime(2027, 4, 3, 10, 0)  # UTC; 12.00 in Copenhagen (summer time)
    with app.test_request_context():
        with force_locale("da_DK"):
            danish = render_template_string("{{ moment|when }}", moment=moment)
        with force_locale("en_GB"):
            english = render_template_string("{{ moment|when }}", moment=moment)
    assert danish == "3. april 2027 kl. 12.00"
    assert english == "3 April 2027 at 12:00"
