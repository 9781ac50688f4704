"""The registrant list: one search box, pages, and the CSV export for Excel."""

from __future__ import annotations

import csv
import io

import pytest

from conference.backoffice.services import search_registrants
from conference.core.db import db
from conference.core.spreadsheets import neutralise_cell
from conference.registration.services import AttendeeDetails, place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details, postgres_only


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


def _order(edition, booker_email, organisation, *people):
    details = booking_details(
        edition,
        len(people),
        booker_email=booker_email,
        booker_name=f"Booker {organisation}",
        organisation=organisation,
        attendees=[AttendeeDetails(name=name, email=email) for name, email in people],
    )
    return place_order(edition, details).order


@pytest.fixture
def registrants(edition):
    """Three orders from three organisations; returns their references."""
    orders = [
        _order(
            edition,
            "hanne@aarhus.dk",
            "Aarhus Kommune",
            ("Mette Frederiksen", "mette@aarhus.dk"),
            ("Lars Løkke", "lars@aarhus.dk"),
        ),
        _order(
            edition,
            "indkob@kk.dk",
            "Københavns Kommune",
            ("Søren Østergaard", "soren.oestergaard@kk.dk"),
        ),
        _order(
            edition,
            "it@regionh.dk",
            "Region Hovedstaden",
            ("Anne Ærø", "anne@regionh.dk"),
        ),
    ]
    db.session.commit()
    return [order.reference for order in orders]


def _names(edition, query):
    return sorted(r.name for r in search_registrants(edition, query).registrants)


def test_empty_search_lists_every_confirmed_place(edition, registrants):
    result = search_registrants(edition, "")
    assert result.total == 4
    # Newest first: the last order's attendee leads.
    assert result.registrants[0].name == "Anne Ærø"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("frederiksen", ["Mette Frederiksen"]),  # part of a name, other case
        ("LARS@AARHUS.DK", ["Lars Løkke"]),  # attendee e-mail
        ("region hoved", ["Anne Ærø"]),  # organisation, two words
        ("aarhus kommune", ["Lars Løkke", "Mette Frederiksen"]),
        ("indkob@kk.dk", ["Søren Østergaard"]),  # booker's e-mail
        ("Østergaard", ["Søren Østergaard"]),
        ("mette region", []),  # every word must match
        ("nobody", []),
        ("%", []),  # LIKE wildcards are taken literally
        ("_", []),
    ],
)
def test_search_by_each_criterion(edition, registrants, query, expected):
    assert _names(edition, query) == expected


def test_search_by_order_reference_in_any_case(edition, registrants):
    assert _names(edition, registrants[1].lower()) == ["Søren Østergaard"]
    assert _names(edition, registrants[0]) == ["Lars Løkke", "Mette Frederiksen"]


@postgres_only
def test_search_folds_danish_letters_on_postgresql(edition, registrants):
    assert _names(edition, "østergaard") == ["Søren Østergaard"]
    assert _names(edition, "ANNE ÆRØ") == ["Anne Ærø"]


def test_other_editions_are_not_listed(edition, registrants):
    from conference.events.commands import create_demo_edition

    other = create_demo_edition(edition.starts_at.year + 1, capacity=10, slug="next-year")
    db.session.commit()
    assert search_registrants(other, "").total == 0


def test_pages(edition, registrants):
    first = search_registrants(edition, "", page=1, per_page=3)
    second = search_registrants(edition, "", page=2, per_page=3)
    assert (first.total, first.pages, len(first.registrants), len(second.registrants)) == (
        4,
        2,
        3,
        1,
    )
    names = {r.name for r in first.registrants} | {r.name for r in second.registrants}
    assert len(names) == 4
    # A page beyond the last shows the last one.
    assert search_registrants(edition, "", page=99, per_page=3).page == 2


def test_registrant_page_shows_the_columns(organiser, edition, registrants):
    page = organiser.get(f"/staff/e/{edition.slug}/registrants")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in (
        "Mette Frederiksen",
        "mette@aarhus.dk",
        "Aarhus Kommune",
        edition.ticket_types[0].display_name("en"),
        registrants[0],
        "Booker Aarhus Kommune",
        "hanne@aarhus.dk",
        "4 confirmed places.",
    ):
        assert text in html, text


def test_registrant_page_search(organiser, edition, registrants):
    html = organiser.get(
        f"/staff/e/{edition.slug}/registrants", query_string={"q": "københavns"}
    ).get_data(as_text=True)
    assert "Søren Østergaard" in html
    assert "Mette Frederiksen" not in html
    assert "1 place matches" in html
    # The CSV link carries the same search.
    assert f"/staff/e/{edition.slug}/registrants.csv?q=k%C3%B8benhavns" in html


def _csv_rows(response) -> list[list[str]]:
    text = response.get_data().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_csv_export_for_danish_excel(organiser, edition, registrants):
    response = organiser.get(f"/staff/e/{edition.slug}/registrants.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{edition.slug}-registrants.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert "Københavns Kommune".encode() in body
    assert b"\r\n" in body
    rows = _csv_rows(response)
    assert rows[0] == [
        "Name",
        "E-mail",
        "Job title",
        "Dietary needs",
        "Organisation",
        "Ticket type",
        "Order reference",
        "Booker",
        "Booker's e-mail",
        "Registered",
    ]
    # Oldest first, as they registered.
    assert [row[0] for row in rows[1:]] == [
        "Mette Frederiksen",
        "Lars Løkke",
        "Søren Østergaard",
        "Anne Ærø",
    ]
    soren = rows[3]
    assert soren[4] == "Københavns Kommune"
    assert soren[6] == registrants[1]
    assert soren[8] == "indkob@kk.dk"
    assert len(soren[9]) == len("2026-04-13 09:30")


def test_csv_export_follows_the_search(organiser, edition, registrants):
    response = organiser.get(
        f"/staff/e/{edition.slug}/registrants.csv", query_string={"q": "aarhus"}
    )
    rows = _csv_rows(response)
    assert [row[0] for row in rows[1:]] == ["Mette Frederiksen", "Lars Løkke"]


def test_csv_cells_cannot_run_as_formulas(organiser, edition):
    _order(
        edition,
        "evil@example.dk",
        "+45 Hackers ApS",
        ('=HYPERLINK("http://x")', "evil@example.dk"),
        ("@SUM(A1:A9)", "at@example.dk"),
        ("-2+3", "minus@example.dk"),
    )
    db.session.commit()
    rows = _csv_rows(organiser.get(f"/staff/e/{edition.slug}/registrants.csv"))
    names = [row[0] for row in rows[1:]]
    assert names == ['\'=HYPERLINK("http://x")', "'@SUM(A1:A9)", "'-2+3"]
    assert {row[4] for row in rows[1:]} == {"'+45 Hackers ApS"}
    raw = organiser.get(f"/staff/e/{edition.slug}/registrants.csv").get_data().decode("utf-8-sig")
    assert ";=" not in raw and "\n=" not in raw and '"=' not in raw


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+4512345678", "'+4512345678"),
        ("-10", "'-10"),
        ("@cmd", "'@cmd"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("Hanne Jensen", "Hanne Jensen"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected
