"""The dashboard's live figures: arrivals, revenue (invoiced, paid, outstanding), stands
booked, and the two charts (places per day, the organisations sending most people)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from conference.backoffice.services import (
    column_chart,
    edition_revenue,
    registrations_per_day,
    top_organisations,
)
from conference.checkin.services import check_in_code
from conference.core.db import db, utcnow
from conference.core.money import format_dkk
from conference.events.services import copenhagen_date
from conference.invoicing.services import invoice_for_order, record_payment
from conference.registration.models import Order
from conference.registration.services import cancel_attendee, place_order
from tests.auth.helpers import log_in, make_staff
from tests.backoffice.stands_helpers import insert_booking, make_hall
from tests.conftest import booking_details


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


def _order(edition, count, organisation, booker):
    placed = place_order(
        edition,
        booking_details(
            edition,
            count,
            organisation=organisation,
            booker_email=f"{booker}@example.dk",
            attendees=[
                a.__class__(name=f"{booker} {i}", email=f"{booker}{i}@example.dk")
                for i, a in enumerate(booking_details(edition, count).attendees)
            ],
        ),
    )
    db.session.commit()
    return placed.order


@pytest.fixture
def sales(edition):
    """Three invoiced orders (3, 2 and 1 places at 2.575,00 kr.), one place of the first
    credited, the second paid in full, the first paid for one place, two arrived."""
    aarhus = _order(edition, 3, "Aarhus Kommune", "aarhus")
    odense = _order(edition, 2, "Odense Kommune", "odense")
    aalborg = _order(edition, 1, "Aalborg Kommune", "aalborg")
    today = copenhagen_date()
    record_payment(invoice_for_order(odense), paid_on=today, amount_ore=643_750, actor="test")
    record_payment(invoice_for_order(aarhus), paid_on=today, amount_ore=321_875, actor="test")
    cancel_attendee(aarhus.attendees[2], actor="test")
    db.session.commit()
    check_in_code(edition, odense.attendees[0].ticket_code, actor="test")
    check_in_code(edition, aalborg.attendees[0].ticket_code, actor="test")
    db.session.commit()
    return aarhus, odense, aalborg


def test_revenue_is_invoices_less_credit_notes_with_payments_and_what_is_owed(edition, sales):
    revenue = edition_revenue(edition)
    # 6 places invoiced, 1 credited: 5 × 2.575,00 = 12.875,00 + 25 % VAT.
    assert (revenue.invoiced.net_ore, revenue.invoiced.gross_ore) == (1_287_500, 1_609_375)
    # Odense's 2 places and one of Aarhus's.
    assert (revenue.paid.net_ore, revenue.paid.gross_ore) == (772_500, 965_625)
    # One Aarhus place and the Aalborg place.
    assert (revenue.outstanding.net_ore, revenue.outstanding.gross_ore) == (515_000, 643_750)


def _row(html: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert match, row_id
    return match.group(1)


def test_dashboard_shows_revenue_arrivals_and_stands_the_danish_way(organiser, edition, sales):
    hall = make_hall(edition)
    insert_booking(edition, hall["A1"])
    insert_booking(edition, hall["A2"], company="Kombit A/S", status="requested")
    html = organiser.get(f"/staff/e/{edition.slug}?lang=da").get_data(as_text=True)
    invoiced = _row(html, "revenue-invoiced")
    assert "12.875,00\xa0kr." in invoiced and "16.093,75\xa0kr." in invoiced
    paid = _row(html, "revenue-paid")
    assert "7.725,00\xa0kr." in paid and "9.656,25\xa0kr." in paid
    outstanding = _row(html, "revenue-outstanding")
    assert "5.150,00\xa0kr." in outstanding and "6.437,50\xa0kr." in outstanding
    arrived = re.search(
        r'id="figure-arrived">.*?<dd class="value">(\d+)</dd>(.*?)</div>', html, re.S
    )
    assert arrived.group(1) == "2"
    assert "af 5 deltagere tjekket ind" in arrived.group(2)
    stands = re.search(r'id="figure-stands">.*?<dd class="value">(\d+)</dd>(.*?)</div>', html, re.S)
    assert stands.group(1) == "1"
    assert "af 4 stande" in stands.group(2)


def test_stand_invoices_count_as_revenue(edition):
    from conference.invoicing.services import issue_stand_invoice

    hall = make_hall(edition)
    booking = insert_booking(edition, hall["A1"])
    issue_stand_invoice(booking, actor="test")
    db.session.commit()
    revenue = edition_revenue(edition)
    assert (revenue.invoiced.net_ore, revenue.invoiced.gross_ore) == (2_500_000, 3_125_000)
    assert revenue.outstanding.gross_ore == 3_125_000
    assert revenue.paid.gross_ore == 0


def _svg(html: str, chart_id: str) -> str:
    match = re.search(rf'<svg class="chart [a-z-]+" id="{chart_id}".*?</svg>', html, re.S)
    assert match, chart_id
    return match.group(0)


def _day_labels(svg: str) -> list[str]:
    return re.findall(r'class="chart-axis chart-day[^"]*"[^>]*>([^<]+)</text>', svg)


def test_charts_are_inline_svg_with_their_numbers(organiser, edition, sales):
    html = organiser.get(f"/staff/e/{edition.slug}?lang=en").get_data(as_text=True)
    per_day = _svg(html, "chart-per-day")
    # Registration opened yesterday: a bar for yesterday (none) and today (5 places).
    assert re.findall(r'data-value="(\d+)"', per_day) == ["0", "5"]
    assert (
        '<title id="chart-per-day-title">Places confirmed per day since registration opened</title>'
        in per_day
    )
    assert "5 places confirmed in all, over 2 days; the most on one day: 5." in per_day
    # Days as each language writes them short: "1 Dec" in English, "1. dec." in Danish.
    days = _day_labels(per_day)
    assert len(days) == 2 and all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}", d) for d in days), days
    danish = _svg(
        organiser.get(f"/staff/e/{edition.slug}?lang=da").get_data(as_text=True), "chart-per-day"
    )
    days = _day_labels(danish)
    assert len(days) == 2 and all(re.fullmatch(r"\d{1,2}\. [a-zæøå]{3,4}\.?", d) for d in days), (
        days
    )
    assert "<script" not in html and "http" not in per_day.replace("http://www.w3.org/2000/svg", "")
    organisations = _svg(html, "chart-organisations")
    values = re.findall(r"<title>([^<]+): (\d+)</title>", organisations)
    assert values == [("Aarhus Kommune", "2"), ("Odense Kommune", "2"), ("Aalborg Kommune", "1")]
    table = re.search(
        r'<table class="data-table" id="table-organisations">(.*?)</table>', html, re.S
    )
    assert re.findall(r"<td>([^<]+)</td><td class=\"num\">(\d+)</td>", table.group(1)) == values


def test_places_per_day_counts_each_day_since_opening(edition):
    first = _order(edition, 2, "Aarhus Kommune", "a")
    second = _order(edition, 1, "Odense Kommune", "b")
    third = _order(edition, 4, "Vejle Kommune", "c")
    now = utcnow()
    edition.registration_opens_at = now - timedelta(days=4)
    db.session.get(Order, first.id).created_at = now - timedelta(days=3)
    db.session.get(Order, second.id).created_at = now - timedelta(days=3)
    db.session.get(Order, third.id).created_at = now - timedelta(days=1)
    db.session.commit()
    today = copenhagen_date(now)
    days = registrations_per_day(edition, today=today)
    assert [n for _day, n in days] == [0, 3, 0, 4, 0]
    assert days[0][0] == copenhagen_date(now - timedelta(days=4))
    assert days[-1][0] == today


def test_top_organisations_are_ten_at_most_largest_first(edition):
    for index in range(12):
        _order(edition, 1 + index % 3, f"Kommune {index:02d}", f"k{index}")
    top = top_organisations(edition)
    assert len(top) == 10
    assert [n for _name, n in top] == sorted((n for _name, n in top), reverse=True)
    assert top[0] == ("Kommune 02", 3)


def test_column_chart_scales_to_a_round_top():
    chart = column_chart([("a", 3), ("b", 7), ("c", 0)])
    assert chart.max_value == 10
    heights = [bar.height for bar in chart.bars]
    assert heights[2] == 0 and heights[1] == pytest.approx(heights[0] * 7 / 3, abs=0.05)
    assert [value for value, _y in chart.ticks] == [0, 2, 4, 6, 8, 10]
    assert [v for v, _y in column_chart([("a", 2)]).ticks] == [0, 1, 2]


def test_column_chart_labels_about_a_dozen_days_and_a_phone_a_few_of_them():
    month = column_chart([(f"{day}. dec.", day) for day in range(1, 32)])
    labelled = [bar.label for bar in month.bars if bar.labelled]
    narrow = [bar.label for bar in month.bars if bar.labelled and not bar.minor]
    assert labelled[0] == "1. dec." and 8 <= len(labelled) <= 12
    assert 3 <= len(narrow) <= 5 and set(narrow) <= set(labelled)
    # The bars fill the width in order, and the edge labels keep inside it.
    assert all(a.x + a.width < b.x for a, b in zip(month.bars, month.bars[1:], strict=False))
    assert month.bars[0].label_anchor == "start" and month.bars[-1].label_anchor == "end"
    assert month.bars[-1].x + month.bars[-1].width <= 100
    five_days = column_chart([(str(day), day) for day in range(5)])
    assert all(bar.labelled and not bar.minor for bar in five_days.bars)


def test_empty_dashboard_has_no_chart_bars(organiser, edition):
    html = organiser.get(f"/staff/e/{edition.slug}?lang=en").get_data(as_text=True)
    assert "No registrations yet." in html
    assert 'id="chart-organisations"' not in html
    assert "0,00" in _row(html, "revenue-invoiced") or "0.00" in _row(html, "revenue-invoiced")


def test_format_is_the_existing_money_helper():
    assert format_dkk(1_287_500) == "12.875,00\xa0kr."
