"""A registration posted when no place is left: a short answer, one click to the waiting list."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from conference.core.db import db
from conference.registration.models import Order, WaitingListEntry
from tests.conftest import booking_form, csrf_token_from


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _hidden_fields(page: str) -> dict[str, str]:
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    }


def test_fully_booked_answer_carries_the_group_to_the_waiting_list(client, small_edition):
    slug = small_edition.slug
    assert (
        client.post(f"/e/{slug}/register", data=booking_form(small_edition, 5)).status_code == 303
    )

    typed = booking_form(
        small_edition, 2, booker_email="anne@odense.dk", organisation='Odense "<Kommune>"'
    )
    response = client.post(f"/e/{slug}/register", data={**typed, "smuggled": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-outcome="full"' in page and 'data-places-left="0"' in page
    assert f'action="/e/{slug}/waiting-list"' in page
    assert "<Kommune>" not in page  # escaped, not markup
    carried = _hidden_fields(page)
    assert carried["organisation"] == 'Odense "<Kommune>"'
    assert carried["attendees-1-email"] == typed["attendees-1-email"]
    assert "smuggled" not in carried
    assert _count(Order) == 1 and _count(WaitingListEntry) == 0

    # One click: the carried form joins the waiting list with the whole group.
    joined = client.post(f"/e/{slug}/waiting-list", data=carried)
    assert joined.status_code == 303
    entry = db.session.scalar(select(WaitingListEntry))
    assert entry.quantity == 2 and entry.organisation == 'Odense "<Kommune>"'


def test_fully_booked_answer_with_a_mistake_shows_the_whole_form(client, small_edition):
    slug = small_edition.slug
    client.post(f"/e/{slug}/register", data=booking_form(small_edition, 5))
    typed = booking_form(small_edition, 1, booker_email="anne@odense.dk", ean="123")
    carried = _hidden_fields(client.post(f"/e/{slug}/register", data=typed).get_data(as_text=True))
    page = client.post(f"/e/{slug}/waiting-list", data=carried).get_data(as_text=True)
    assert 'id="ean-error"' in page
    assert 'value="anne@odense.dk"' in page
    assert _count(WaitingListEntry) == 0


def test_fully_booked_answer_keeps_csrf_protection(app, small_edition):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    slug = small_edition.slug
    token = csrf_token_from(client.get(f"/e/{slug}/register").get_data(as_text=True))
    full = booking_form(small_edition, 5, csrf_token=token)
    assert client.post(f"/e/{slug}/register", data=full).status_code == 303
    token = csrf_token_from(client.get(f"/e/{slug}/register").get_data(as_text=True))
    forged = client.post(f"/e/{slug}/register", data=booking_form(small_edition, 1))
    assert forged.status_code == 400
    page = client.post(
        f"/e/{slug}/register",
        data=booking_form(small_edition, 1, booker_email="bo@vejle.dk", csrf_token=token),
    ).get_data(as_text=True)
    assert 'data-outcome="full"' in page
    carried = _hidden_fields(page)
    assert carried["csrf_token"]
    assert client.post(f"/e/{slug}/waiting-list", data=carried).status_code == 303


def test_a_booker_sending_the_waiting_list_form_twice_keeps_one_place_in_the_queue(
    client, small_edition
):
    slug = small_edition.slug
    client.post(f"/e/{slug}/register", data=booking_form(small_edition, 5))
    form = booking_form(small_edition, 2, booker_email="anne@odense.dk")
    assert client.post(f"/e/{slug}/waiting-list", data=form).status_code == 303

    again = client.post(
        f"/e/{slug}/waiting-list",
        data={**form, "booker_email": "Anne@Odense.DK", "attendees-0-name": "Another"},
    )

    page = again.get_data(as_text=True)
    assert again.status_code == 200
    assert 'id="already-waiting"' in page
    assert "Anne@Odense.DK står allerede på ventelisten til arrangementet." in page
    assert f'href="/e/{slug}/my-link"' in page
    assert _count(WaitingListEntry) == 1
    assert db.session.scalar(select(WaitingListEntry.quantity)) == 2


def test_after_leaving_the_waiting_list_the_booker_may_join_again(client, small_edition):
    from conference.registration.services import leave_waiting_list

    slug = small_edition.slug
    client.post(f"/e/{slug}/register", data=booking_form(small_edition, 5))
    form = booking_form(small_edition, 1, booker_email="anne@odense.dk")
    joined = client.post(f"/e/{slug}/waiting-list", data=form)
    leave_waiting_list(joined.headers["Location"].rsplit("/", 1)[1])
    db.session.commit()
    assert client.post(f"/e/{slug}/waiting-list", data=form).status_code == 303
    assert _count(WaitingListEntry) == 2


def test_already_waiting_speaks_english(client, small_edition):
    slug = small_edition.slug
    client.post(f"/e/{slug}/register", data=booking_form(small_edition, 5))
    form = booking_form(small_edition, 1, booker_email="anne@odense.dk", language="en")
    client.post(f"/e/{slug}/waiting-list", data=form)
    client.get(f"/e/{slug}?lang=en")
    page = client.post(f"/e/{slug}/waiting-list", data=form).get_data(as_text=True)
    assert "anne@odense.dk is already on the waiting list for this event." in page
    assert "Get your link again" in page
