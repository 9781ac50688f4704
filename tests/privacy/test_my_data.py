"""A person downloads their own data from their manage link, and only their own."""

from __future__ import annotations

import json

from conference.core.db import db
from tests.conftest import rate_limited_app


def _download(client, token):
    return client.get(f"/m/{token}/my-data.json?lang=en")


def test_the_booker_gets_the_order_with_its_participants(client, edition, filled):
    response = _download(client, filled.placed.booker_token)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert "\n  " in text  # indented, readable
    assert "Nødder" not in text  # Bent's place was handed on with its dietary needs
    data = json.loads(text)
    order = data["order"]
    assert order["reference"] == filled.placed.order.reference
    assert order["booker"]["email"] == "hanne@aarhus.dk"
    assert order["booker"]["phone"] == "+45 87 05 00 00"
    assert order["invoice_details"]["ean"] == "5798000000001"
    names = [p["name"] for p in order["participants"]]
    assert names == ["Anna Andersen", "Mads Madsen"]
    assert order["participants"][0]["dietary_needs"] == "Vegetar"
    assert [i["kind"] for i in data["invoices"]] == ["invoice"]
    assert all(mail["to"] == "hanne@aarhus.dk" for mail in data["emails"])
    assert data["emails"]
    assert data["event"]["contact"]["email"] == edition.contact_email
    assert "Olga" not in text and "ole@odense.dk" not in text


def test_a_participant_gets_their_own_place_only(client, edition, filled):
    anna = filled.placed.order.attendees[0]
    token = filled.placed.attendee_tokens[anna.id]
    data = json.loads(_download(client, token).get_data(as_text=True))
    assert data["place"]["name"] == "Anna Andersen"
    assert data["place"]["email"] == "anna@aarhus.dk"
    assert data["order"] == {
        "reference": filled.placed.order.reference,
        "organisation": "Aarhus Kommune",
    }
    text = json.dumps(data, ensure_ascii=False)
    for other in ("Mads", "Bent", "hanne@aarhus.dk", "+45 87", "5798000000001"):
        assert other not in text
    assert {mail["to"] for mail in data["emails"]} == {"anna@aarhus.dk"}


def test_another_order_s_token_gets_only_that_order(client, edition, filled):
    text = _download(client, filled.other.booker_token).get_data(as_text=True)
    assert "Olga Odense" in text
    for value in ("Anna Andersen", "hanne@aarhus.dk", filled.placed.order.reference):
        assert value not in text


def test_a_wrong_or_old_token_gets_nothing(client, edition, filled):
    assert _download(client, "x" * 43).status_code == 404
    assert client.get("/m/" + "y" * 200 + "/my-data.json").status_code == 404


def test_the_handed_on_holder_s_link_downloads_nothing(client, edition, filled):
    tokens = filled.placed.attendee_tokens
    bent_token = tokens[filled.placed.order.attendees[1].id]
    response = _download(client, bent_token)
    assert response.status_code == 404
    assert "Bent" not in response.get_data(as_text=True)


def test_the_manage_page_links_to_the_download(client, edition, filled):
    page = client.get(f"/m/{filled.placed.booker_token}?lang=en").get_data(as_text=True)
    assert f'href="/m/{filled.placed.booker_token}/my-data.json"' in page
    assert "Download my data" in page


def test_the_download_is_rate_limited_like_the_manage_page(database_url, edition, filled):
    app = rate_limited_app(database_url, MANAGE_RATE_LIMIT="2 per minute")
    db.session.commit()
    client = app.test_client()
    url = f"/m/{filled.placed.booker_token}/my-data.json"
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]
    with app.app_context():
        db.engine.dispose()  # this app's own pool: give its connections back now
