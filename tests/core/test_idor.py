"""A secret link opens its own registration, offer or stand booking only.

Every route that takes a link's token is found in the URL map, so a route added
later is covered too. For each one: another order's (or booking's) ids behind our
token, a token of another kind (a manage link at /s/, a stand link at /m/, an
offer at /m/ ...), a guessed token, and the link of a place that was handed on
all get a 404 and change nothing; the right link with its own ids opens the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from conference.backoffice.services import set_capacity
from conference.core.db import db
from conference.invoicing.services import stand_booking_invoices
from conference.registration.models import Order
from conference.registration.services import join_waiting_list, place_order
from conference.stands import services as stands
from tests.conftest import booking_details
from tests.mail.helpers import mail_texts
from tests.stands.conftest import company_details, make_hall, stand

#: The link families: the prefix of their routes, and the id arguments they take.
FAMILIES = {"/m/": "manage", "/w/": "waiting", "/s/": "stand"}
FORM = {"name": "Mallory", "email": "mallory@example.com", "staff-name": "Mallory"}


@dataclass
class Owner:
    """One registration, offer or stand booking: its tokens and the ids it may open."""

    family: str
    tokens: list[str]
    ids: dict[str, int] = field(default_factory=dict)


def _token_routes(app) -> list[tuple[str, str, set[str]]]:
    """(family, rule, methods) of every route that takes a link's token."""
    routes = []
    for rule in app.url_map.iter_rules():
        if "token" not in rule.arguments:
            continue
        family = next((f for prefix, f in FAMILIES.items() if rule.rule.startswith(prefix)), None)
        routes.append((family or rule.rule, rule.rule, rule.methods - {"HEAD", "OPTIONS"}))
    return routes


def _url(rule: str, token: str, ids: dict[str, int]) -> str:
    url = rule.replace("<token>", token)
    for name, value in ids.items():
        url = url.replace(f"<int:{name}>", str(value))
    assert "<" not in url, f"no id for {url}"
    return url


def _altered(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _rows() -> dict[str, int]:
    return {
        t.name: db.session.scalar(select(func.count()).select_from(t))
        for t in db.metadata.sorted_tables
    }


def _offer_token(address: str) -> str:
    (text,) = mail_texts("waiting_list_offer", address)
    return re.search(r"/w/([A-Za-z0-9_-]+)", text).group(1)


@pytest.fixture
def owners(small_edition) -> dict[str, Owner]:
    """Two of each: orders (booker and participant links), waiting-list entries with
    an open offer, stand bookings with a named pass and an invoice."""
    edition = small_edition
    found: dict[str, Owner] = {}
    for name, email in (("ours", "hanne@aarhus.dk"), ("theirs", "it@odense.dk")):
        placed = place_order(edition, booking_details(edition, 2, booker_email=email))
        first = placed.order.attendees[0].id
        found[f"{name} order"] = Owner(
            "manage",
            [placed.booker_token, placed.attendee_tokens[first]],
            {"attendee_id": first},
        )
    place_order(edition, booking_details(edition, 1, booker_email="last@vejle.dk"))  # full
    for name in ("ours", "theirs"):
        joined = join_waiting_list(
            edition, booking_details(edition, 1, booker_email=f"{name}@kommune.dk")
        )
        found[f"{name} waiting"] = Owner("waiting", [joined.token])
    set_capacity(edition, 7, actor="test")  # both entries get an offer
    db.session.commit()
    for name in ("ours", "theirs"):
        found[f"{name} waiting"].tokens.append(_offer_token(f"{name}@kommune.dk"))

    make_hall(edition)
    for number, code in ((1, "A1"), (2, "A2")):
        booked = stands.book_stand(edition, stand(edition, code), company_details(number))
        exhibitor_pass = stands.name_staff(
            booked.booking, stands.StaffDetails(name=f"Jonas {number}", email=f"j{number}@kd.dk")
        )
        db.session.flush()
        (invoice,) = stand_booking_invoices(booked.booking)
        name = "ours" if number == 1 else "theirs"
        found[f"{name} stand"] = Owner(
            "stand", [booked.token], {"pass_id": exhibitor_pass.id, "document_id": invoice.id}
        )
    db.session.commit()
    return found


def _refused(client, url: str, methods: set[str]) -> None:
    for method in methods:
        response = client.open(url, method=method, data=FORM)
        assert response.status_code == 404, (method, url, response.status_code)


def test_every_link_route_is_found(app):
    routes = _token_routes(app)
    families = {family for family, _, _ in routes}
    assert {"manage", "waiting", "stand"} <= families
    assert {
        "/m/<token>/transfer/<int:attendee_id>",
        "/m/<token>/ticket/<int:attendee_id>.pdf",
        "/m/<token>/my-data.json",
        "/w/<token>/accept",
        "/s/<token>/passes/<int:pass_id>.pdf",
        "/s/<token>/documents/<int:document_id>.pdf",
    } <= {rule for _, rule, _ in routes}
    # Every other token route is one of the three families or the card payment's
    # cancel link (its token is a signed order reference: tests/payments/test_holds.py).
    assert families - {"manage", "waiting", "stand"} == {"/pay/cancel/<token>"}


def test_our_link_cannot_open_another_orders_or_bookings_objects(client, owners, app):
    routes = [r for r in _token_routes(app) if "<int:" in r[1]]
    before = _rows()
    for family, rule, methods in routes:
        ours = next(
            o for name, o in owners.items() if name.startswith("ours") and o.family == family
        )
        theirs = next(
            o for name, o in owners.items() if name.startswith("theirs") and o.family == family
        )
        for token in ours.tokens:
            _refused(client, _url(rule, token, theirs.ids), methods)
    assert _rows() == before
    # Our own ids behind our links do open: the 404s above are not for every link.
    ours = owners["ours order"]
    for token in ours.tokens:
        url = _url("/m/<token>/qr/<int:attendee_id>.svg", token, ours.ids)
        assert client.get(url).status_code == 200
    stand_owner = owners["ours stand"]
    for rule in (
        "/s/<token>/passes/<int:pass_id>.pdf",
        "/s/<token>/documents/<int:document_id>.pdf",
    ):
        assert client.get(_url(rule, stand_owner.tokens[0], stand_owner.ids)).status_code == 200


def test_a_token_of_another_kind_or_a_guessed_one_opens_nothing(client, owners, app):
    before = _rows()
    routes = _token_routes(app)
    for family, rule, methods in routes:
        # The route's own ids, so only the token is wrong.
        own = next((o for o in owners.values() if o.family == family), None)
        ids = own.ids if own is not None else {}
        foreign = [t for o in owners.values() if o.family != family for t in o.tokens]
        guessed = [_altered(t) for o in owners.values() if o.family == family for t in o.tokens]
        for token in foreign + guessed + ["x" * 43]:
            _refused(client, _url(rule, token, ids), methods)
    assert _rows() == before
    # The right tokens do open their pages.
    for owner in owners.values():
        prefix = {v: k for k, v in FAMILIES.items()}[owner.family]
        for token in owner.tokens:
            assert client.get(f"{prefix}{token}").status_code == 200, (owner.family, token)


def test_the_link_of_a_place_handed_on_opens_nothing_of_the_new_holders(client, owners, app):
    ours = owners["ours order"]
    booker, old = ours.tokens
    place = ours.ids["attendee_id"]
    response = client.post(
        f"/m/{old}/transfer/{place}",
        data={"name": "Mads Madsen", "email": "mads@aarhus.dk", "version": "1"},
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    before = _rows()
    # Whoever has the old link now (a forwarded e-mail): not the sender's session.
    stranger = app.test_client()
    page = stranger.get(f"/m/{old}")
    assert page.status_code == 200  # says the place was handed on
    html = page.get_data(as_text=True)
    # It names who has the place now (as designed), nothing to reach them or the ticket.
    assert 'id="handed-on"' in html
    assert "mads@aarhus.dk" not in html and "/qr/" not in html and "/ticket/" not in html
    for family, rule, methods in _token_routes(app):
        if family == "manage" and rule != "/m/<token>":
            _refused(stranger, _url(rule, old, ours.ids), methods)
    assert _rows() == before
    # The booker's link still opens the place, now in the new holder's name.
    assert "Mads Madsen" in client.get(f"/m/{booker}").get_data(as_text=True)


def test_an_offer_link_accepts_once(client, owners):
    token = owners["ours waiting"].tokens[1]
    assert client.post(f"/w/{token}/accept").status_code in (302, 303)
    orders = db.session.scalar(select(func.count()).select_from(Order))
    again = client.post(f"/w/{token}/accept")
    assert again.status_code < 500
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Order)) == orders
