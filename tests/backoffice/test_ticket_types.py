"""The organiser's ticket types and access codes: list, create, edit, refusals next to
their fields, the uses of each code, the audit log."""

from __future__ import annotations

import html as html_module
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conference.core.db import db
from conference.core.models import AuditEvent
from conference.events.models import AccessCode, TicketType
from conference.events.services import copenhagen_date
from conference.registration.services import place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details, csrf_token_from


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


def _post(client, url, **data):
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def _type_form(**overrides):
    data = {
        "name": "Studerende",
        "name_en": "Student",
        "price": "1.200,00",
        "is_public": "y",
        "sort_order": "5",
        "early_bird_price": "",
        "early_bird_until": "",
    }
    data.update(overrides)
    return data


def _error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field_id}"
    return (
        html_module.unescape(re.sub(r"<[^>]+>", "", match.group(1))).replace("Error:", "").strip()
    )


def test_list_shows_types_prices_and_codes_with_their_uses(organiser, edition):
    speaker = edition.ticket_types[1]
    place_order(
        edition, booking_details(edition, 2, ticket_type_id=speaker.id, access_code="TALER2027")
    )
    db.session.commit()
    html = organiser.get(f"/staff/e/{edition.slug}/tickets").get_data(as_text=True)
    assert "Participant" in html and "DKK\xa02,575.00" in html and "DKK\xa03,218.75" in html
    row = re.search(r'<tr id="code-\d+">\s*<td><a [^>]*><code>TALER2027</code>.*?</tr>', html, re.S)
    assert re.search(r'<td class="num" data-used>2</td>', row.group(0))
    assert "free" in row.group(0)


def test_create_a_ticket_type_with_an_early_bird_price(organiser, edition):
    until = copenhagen_date() + timedelta(days=20)
    response = _post(
        organiser,
        f"/staff/e/{edition.slug}/tickets/new",
        **_type_form(early_bird_price="900", early_bird_until=until.isoformat()),
    )
    assert response.status_code == 303
    created = db.session.scalar(select(TicketType).where(TicketType.name == "Studerende"))
    assert (created.price_net_ore, created.early_bird_price_net_ore) == (120_000, 90_000)
    assert created.early_bird_until == until and created.is_public
    assert created.quota_id == edition.quotas[0].id
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ticket_type.created"))
    assert audit.object_id == created.id and audit.data["after"]["price_net_ore"] == 120_000
    # The public page shows it, with the early-bird price.
    page = organiser.get(f"/e/{edition.slug}").get_data(as_text=True)
    assert "900,00" in page or "900.00" in page


def test_edit_a_ticket_type_and_hide_it(organiser, edition):
    participant = edition.ticket_types[0]
    url = f"/staff/e/{edition.slug}/tickets/{participant.id}"
    form = organiser.get(url).get_data(as_text=True)
    assert 'value="2.575,00"' in form
    response = _post(organiser, url, **_type_form(name="Deltager", price="2.750,00", is_public=""))
    assert response.status_code == 303
    db.session.refresh(participant)
    assert participant.price_net_ore == 275_000 and not participant.is_public
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ticket_type.changed"))
    assert audit.data["before"]["price_net_ore"] == 257_500
    assert audit.data["after"]["is_public"] is False


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"price": "mange penge"}, "price", "Enter an amount in kroner, like 25.000,00."),
        ({"price": ""}, "price", "Enter the price without VAT."),
        (
            {"early_bird_price": "1.500,00", "early_bird_until": "2020-01-01", "price": "1.000,00"},
            "early_bird_price",
            "The early-bird price must be lower than the normal price.",
        ),
        (
            {"early_bird_price": "500"},
            "early_bird_until",
            "Enter the last day of the early-bird price.",
        ),
        (
            {"early_bird_until": "2030-01-01"},
            "early_bird_price",
            "Enter the early-bird price, or leave its last day empty.",
        ),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_bad_ticket_type_input_is_refused_next_to_its_field(
    organiser, edition, overrides, field, message
):
    response = _post(organiser, f"/staff/e/{edition.slug}/tickets/new", **_type_form(**overrides))
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), field) == message
    assert db.session.scalar(select(func.count(TicketType.id))) == 3


def test_early_bird_cannot_outlast_the_event(organiser, edition):
    after = copenhagen_date(edition.starts_at) + timedelta(days=1)
    response = _post(
        organiser,
        f"/staff/e/{edition.slug}/tickets/new",
        **_type_form(early_bird_price="500", early_bird_until=after.isoformat()),
    )
    assert response.status_code == 422
    assert "day of the event" in _error(response.get_data(as_text=True), "early_bird_until")


def _code_form(edition, **overrides):
    data = {
        "code": "presse-vip",
        "ticket_type_id": str(edition.ticket_types[0].id),
        "pricing": "discount",
        "price": "1.000,00",
        "max_uses": "5",
        "note": "Partnere",
    }
    data.update(overrides)
    return data


def test_the_code_form_offers_free_of_charge_not_free_places(organiser, edition):
    page = organiser.get(f"/staff/e/{edition.slug}/codes/new?lang=da").get_data(as_text=True)
    labels = re.findall(r'<label for="pricing-\d+">([^<]+)</label>', page)
    assert labels == ["Gratis", "En nedsat pris", "Billettypens pris"]


def test_create_free_and_discounted_codes(organiser, edition):
    url = f"/staff/e/{edition.slug}/codes/new"
    assert _post(organiser, url, **_code_form(edition)).status_code == 303
    assert (
        _post(
            organiser, url, **_code_form(edition, code="GRATIS", pricing="free", price="")
        ).status_code
        == 303
    )
    codes = {c.code: c for c in db.session.scalars(select(AccessCode))}
    assert codes["PRESSE-VIP"].price_net_ore == 100_000 and codes["PRESSE-VIP"].max_uses == 5
    assert codes["GRATIS"].price_net_ore == 0 and codes["GRATIS"].used == 0
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "access_code.created")
        )
        == 2
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"code": "taler2027"}, "code", "This code is already used in this edition."),
        ({"code": "a b"}, "code", "Use 3 to 60 letters A–Z, digits, hyphens or underscores."),
        ({"price": ""}, "price", "Enter the reduced price."),
        (
            {"price": "9.000,00"},
            "price",
            "The code's price cannot be higher than the ticket type's price.",
        ),
        ({"max_uses": "0"}, "max_uses", "Enter a number of uses from 1 to 100000."),
    ],
)
def test_bad_code_input_is_refused_next_to_its_field(organiser, edition, overrides, field, message):
    response = _post(
        organiser, f"/staff/e/{edition.slug}/codes/new", **_code_form(edition, **overrides)
    )
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), field) == message
    assert db.session.scalar(select(func.count(AccessCode.id))) == 2


def test_uses_cannot_go_below_what_is_used(organiser, edition):
    code = db.session.scalar(select(AccessCode).where(AccessCode.code == "TALER2027"))
    speaker = code.ticket_type
    place_order(
        edition, booking_details(edition, 3, ticket_type_id=speaker.id, access_code="TALER2027")
    )
    db.session.commit()
    url = f"/staff/e/{edition.slug}/codes/{code.id}"
    page = organiser.get(url).get_data(as_text=True)
    assert "Used for 3 places" in page and "97 uses left" in page
    response = _post(
        organiser,
        url,
        **_code_form(
            edition, code="TALER2027", ticket_type_id=str(speaker.id), pricing="free", max_uses="2"
        ),
    )
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), "max_uses") == (
        "Enter a number of uses from 3 to 100000."
    )
    db.session.refresh(code)
    assert code.max_uses == 100


def test_codes_of_another_edition_are_not_found(organiser, edition):
    from conference.events.commands import create_demo_edition

    other = create_demo_edition(2031, capacity=10, slug="andet")
    db.session.commit()
    other_code = other.ticket_types[1].access_codes[0]
    assert organiser.get(f"/staff/e/{edition.slug}/codes/{other_code.id}").status_code == 404
    assert (
        organiser.get(f"/staff/e/{edition.slug}/tickets/{other.ticket_types[0].id}").status_code
        == 404
    )


def test_checkin_staff_may_not_manage_tickets(client, edition):
    make_staff("door@example.dk", role="checkin")
    log_in(client, "door@example.dk")
    assert client.get(f"/staff/e/{edition.slug}/tickets").status_code == 403
    assert client.post(f"/staff/e/{edition.slug}/tickets/new", data=_type_form()).status_code in (
        400,
        403,
    )
