"""A manage link opens its own registration only: never another order's places.

Every route that takes a manage token and a place id is found in the URL map,
so a route added later is covered too.
"""

from __future__ import annotations

from sqlalchemy import func, select

from conference.core.db import db
from conference.registration.services import place_order
from tests.conftest import booking_details


def _token_and_place_routes(app) -> list[tuple[str, set[str]]]:
    return [
        (rule.rule, rule.methods - {"HEAD", "OPTIONS"})
        for rule in app.url_map.iter_rules()
        if {"token", "attendee_id"} <= set(rule.arguments)
    ]


def _altered(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _rows() -> dict[str, int]:
    return {
        t.name: db.session.scalar(select(func.count()).select_from(t))
        for t in db.metadata.sorted_tables
    }


def test_a_booker_link_cannot_reach_another_orders_places(app, client, edition):
    ours = place_order(edition, booking_details(edition, 2))
    theirs = place_order(
        edition, booking_details(edition, 2, booker_email="it@odense.dk", organisation="Odense")
    )
    db.session.commit()
    routes = _token_and_place_routes(app)
    assert {"/m/<token>/transfer/<int:attendee_id>", "/m/<token>/qr/<int:attendee_id>.svg"} <= {
        rule for rule, _ in routes
    }
    own_place = ours.order.attendees[0].id
    their_place = theirs.order.attendees[0].id
    their_token = theirs.attendee_tokens[their_place]
    before = _rows()
    for rule, methods in routes:
        for token, place in (
            (ours.booker_token, their_place),  # our booker, their place
            (ours.attendee_tokens[own_place], their_place),  # our attendee, their place
            (their_token, own_place),  # their attendee, our place
            (_altered(ours.booker_token), own_place),  # a guessed token
        ):
            url = rule.replace("<token>", token).replace("<int:attendee_id>", str(place))
            for method in methods:
                data = {"name": "Mallory", "email": "mallory@example.com"}
                response = client.open(url, method=method, data=data)
                assert response.status_code == 404, (method, url, response.status_code)
    assert _rows() == before
    # The links work for their own places, so the 404s above are not for every link.
    assert client.get(f"/m/{ours.booker_token}/qr/{own_place}.svg").status_code == 200


def test_a_guessed_offer_link_opens_and_accepts_nothing(client, small_edition):
    from conference.registration.services import join_waiting_list

    edition = small_edition
    place_order(edition, booking_details(edition, edition.quotas[0].capacity))
    first = join_waiting_list(edition, booking_details(edition, 1, booker_email="a@kommune.dk"))
    db.session.commit()
    assert client.post(f"/w/{_altered(first.token)}/accept").status_code == 404
    assert client.get(f"/w/{_altered(first.token)}").status_code == 404
    assert client.get(f"/w/{first.token}").status_code == 200
