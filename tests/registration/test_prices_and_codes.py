"""What a booking pays: the early-bird price up to its last day, an access code's price
(free or reduced), and a code's limited uses; on the pages, the order and the invoice."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conference.core.db import db
from conference.events.models import AccessCode
from conference.events.services import copenhagen_date, ticket_price
from conference.invoicing.models import Invoice
from conference.registration.models import Attendee, Order
from conference.registration.services import InvalidBooking, place_order
from tests.conftest import booking_details, booking_form

EARLY = 199_500  # 1.995,00 kr. + moms = 2.493,75 kr.


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _register(client, edition, count: int = 1, **overrides):
    return client.post(
        f"/e/{edition.slug}/register", data=booking_form(edition, count, **overrides)
    )


def _field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">(.*?)</p>', html)
    assert match, f"no error shown next to {field_id}"
    return re.sub(r"<[^>]+>", "", match.group(1)).replace("Fejl:", "").replace("Error:", "").strip()


@pytest.fixture
def early_bird(edition):
    participant = edition.ticket_types[0]
    participant.early_bird_price_net_ore = EARLY
    participant.early_bird_until = copenhagen_date() + timedelta(days=10)
    db.session.commit()
    return participant


def test_early_bird_price_before_its_last_day_on_pages_order_and_invoice(
    client, edition, early_bird
):
    until = early_bird.early_bird_until
    event = client.get(f"/e/{edition.slug}?lang=en").get_data(as_text=True)
    assert "DKK\xa01,995.00" in event and "DKK\xa02,493.75" in event
    assert "Early-bird price until" in event and str(until.year) in event
    assert "DKK\xa02,575.00" in event  # the price after it
    form = client.get(f"/e/{edition.slug}/register?lang=en").get_data(as_text=True)
    assert 'data-unit-net="199500"' in form and "Early-bird price until" in form

    assert _register(client, edition, 2).status_code == 303
    attendee = db.session.scalar(select(Attendee))
    assert attendee.unit_price_net_ore == EARLY
    order = db.session.scalar(select(Order))
    assert order.total_net_ore == 2 * EARLY
    invoice = db.session.scalar(select(Invoice))
    assert [(line["quantity"], line["unit_net_ore"]) for line in invoice.lines] == [(2, EARLY)]
    assert invoice.net_ore == 2 * EARLY and invoice.total_ore == 2 * 249_375


def test_early_bird_price_holds_on_its_last_day_and_ends_after(edition, early_bird):
    early_bird.early_bird_until = copenhagen_date()
    assert ticket_price(early_bird).net_ore == EARLY
    early_bird.early_bird_until = copenhagen_date() - timedelta(days=1)
    assert ticket_price(early_bird).net_ore == 257_500
    assert ticket_price(early_bird).early_bird_until is None


def test_after_the_early_bird_date_the_normal_price_everywhere(client, edition, early_bird):
    early_bird.early_bird_until = copenhagen_date() - timedelta(days=1)
    db.session.commit()
    event = client.get(f"/e/{edition.slug}?lang=en").get_data(as_text=True)
    assert "DKK\xa02,575.00" in event and "1,995.00" not in event
    assert "Early-bird" not in event
    assert _register(client, edition, 1).status_code == 303
    assert db.session.scalar(select(Attendee)).unit_price_net_ore == 257_500
    assert db.session.scalar(select(Invoice)).lines[0]["unit_net_ore"] == 257_500


def test_free_code_gives_a_free_place_and_counts_a_use(client, edition):
    code = db.session.scalar(select(AccessCode).where(AccessCode.code == "TALER2027"))
    response = _register(client, edition, 2, access_code="taler2027")
    assert response.status_code == 303
    assert db.session.scalar(select(Order)).total_gross_ore == 0
    assert _count(Invoice) == 0  # nothing sold, nothing invoiced
    db.session.refresh(code)
    assert code.used == 2


@pytest.fixture
def partner_code(edition):
    code = AccessCode(
        edition_id=edition.id,
        ticket_type_id=edition.ticket_types[0].id,
        code="PARTNER27",
        price_net_ore=150_000,
        max_uses=3,
    )
    db.session.add(code)
    db.session.commit()
    return code


def test_discount_code_price_on_page_order_and_invoice(client, edition, partner_code, early_bird):
    # The code's price wins over the early-bird price.
    form = client.get(f"/e/{edition.slug}/register?code=PARTNER27&lang=en").get_data(as_text=True)
    assert 'data-unit-net="150000"' in form
    assert _register(client, edition, 2, access_code="partner27").status_code == 303
    assert db.session.scalar(select(Attendee)).unit_price_net_ore == 150_000
    invoice = db.session.scalar(select(Invoice))
    assert invoice.lines[0]["unit_net_ore"] == 150_000 and invoice.net_ore == 300_000
    assert invoice.vat_ore == 75_000
    db.session.refresh(partner_code)
    assert partner_code.used == 2


def test_used_up_code_is_refused_clearly_and_nothing_is_written(client, edition, partner_code):
    partner_code.used = 3
    db.session.commit()
    page = _register(client, edition, 1, access_code="PARTNER27").get_data(as_text=True)
    assert _field_error(page, "access_code") == "Denne adgangskode er brugt op."
    assert _count(Order) == 0 and _count(Attendee) == 0 and _count(Invoice) == 0
    db.session.refresh(partner_code)
    assert partner_code.used == 3


def test_group_larger_than_the_uses_left_is_refused(client, edition, partner_code):
    page = _register(client, edition, 4, access_code="PARTNER27").get_data(as_text=True)
    assert (
        _field_error(page, "access_code") == "Denne adgangskode kan kun bruges til 3 pladser mere."
    )
    assert _count(Order) == 0


def test_code_for_another_ticket_type_is_not_valid(edition, partner_code):
    speaker = edition.ticket_types[1]
    with pytest.raises(InvalidBooking) as refusal:
        place_order(
            edition, booking_details(edition, 1, ticket_type_id=speaker.id, access_code="PARTNER27")
        )
    assert set(refusal.value.errors) == {"access_code"}
    db.session.rollback()
    assert _count(Order) == 0


def test_a_cancelled_place_gives_its_code_use_back_and_the_whole_order_the_rest(
    client, edition, partner_code
):
    from conference.registration.services import cancel_attendee, cancel_order

    assert _register(client, edition, 3, access_code="PARTNER27").status_code == 303
    db.session.refresh(partner_code)
    assert partner_code.used == 3
    order = db.session.scalar(select(Order))
    assert order.access_code_id == partner_code.id

    cancel_attendee(order.attendees[0], actor="organiser:test", reason="Syg")
    db.session.commit()
    db.session.refresh(partner_code)
    assert partner_code.used == 2
    # The use that came back lets another booker in with the code.
    assert (
        _register(client, edition, 1, access_code="PARTNER27", booker_email="b@kk.dk").status_code
        == 303
    )
    db.session.refresh(partner_code)
    assert partner_code.used == 3

    cancel_order(db.session.get(Order, order.id), actor="organiser:test", reason="Aflyst")
    db.session.commit()
    db.session.refresh(partner_code)
    assert partner_code.used == 1


def test_cancelling_an_order_without_a_code_changes_no_code(client, edition, partner_code):
    from conference.registration.services import cancel_order

    assert _register(client, edition, 1, access_code="PARTNER27").status_code == 303
    assert _register(client, edition, 2, booker_email="plain@kk.dk").status_code == 303
    plain = db.session.scalar(select(Order).where(Order.booker_email == "plain@kk.dk"))
    assert plain.access_code_id is None

    cancel_order(plain, actor="organiser:test")
    db.session.commit()
    db.session.refresh(partner_code)
    assert partner_code.used == 1
