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
