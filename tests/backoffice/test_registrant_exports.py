"""The registrant exports for the venue and for chasing payment, as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from conference.core.db import db
from conference.invoicing.services import invoice_for_order, record_payment
from conference.registration.services import AttendeeDetails, place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details

NEW_ENDPOINTS = {
    "backoffice.registrants_export_csv",
    "backoffice.registrants_export_xlsx",
    "backoffice.edit_attendee",
    "backoffice.edit_booker",
    "backoffice.move_attendee",
    "backoffice.resend_confirmation",
    "backoffice.resend_ticket",
    "backoffice.register_on_behalf",
}


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


@pytest.fixture
def orders(edition):
    """Aarhus (two places, one vegan) has paid; Odense (one place, a formula in the
    dietary field) has not."""
    aarhus = place_order(
        edition,
        booking_details(
            edition,
            2,
            attendees=[
                AttendeeDetails("Mette Vegan", "mette@aarhus.dk", dietary="Vegan"),
                AttendeeDetails("Lars Alt", "lars@aarhus.dk"),
            ],
        ),
    ).order
    odense = place_order(
        edition,
        booking_details(
            edition,
            1,
            booker_email="ole@odense.dk",
            organisation="Odense Kommune",
            attendees=[
                AttendeeDetails(
                    "Ole Formel", "ole@odense.dk", dietary='=HYPERLINK("http://x","Glutenfri")'
                )
            ],
        ),
    ).order
    invoice = invoice_for_order(aarhus)
    record_payment(invoice, paid_on=date.today(), amount_ore=invoice.total_ore, actor="test")
    db.session.commit()
    return aarhus, odense


def _csv_rows(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def _xlsx_rows(response) -> list[tuple]:
    workbook = load_workbook(io.BytesIO(response.get_data()))
    return list(workbook.active.iter_rows(values_only=True))


def _export(client, edition, extension, **query):
    return client.get(f"/staff/e/{edition.slug}/registrants/export.{extension}", query_string=query)


def test_the_dietary_list_for_the_venue(organiser, edition, orders):
    response = _export(organiser, edition, "csv", list="dietary")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "traef-dietary.csv" in response.headers["Content-Disposition"]
    header, *rows = _csv_rows(response)
    assert header[:3] == ["Name", "Dietary needs", "Organisation"]
    assert [row[:2] for row in rows] == [
        ["Mette Vegan", "Vegan"],
        ["Ole Formel", '\'=HYPERLINK("http://x","Glutenfri")'],  # neutralised
    ]


def test_the_dietary_list_as_xlsx_shows_a_formula_as_text(organiser, edition, orders):
    response = _export(organiser, edition, "xlsx", list="dietary")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.active
    assert sheet.title == "Dietary needs"
    cell = sheet["B3"]
    assert cell.value == '=HYPERLINK("http://x","Glutenfri")' and cell.data_type == "s"
    assert [row[0] for row in _xlsx_rows(response)] == ["Name", "Mette Vegan", "Ole Formel"]


def test_participants_of_one_organisation(organiser, edition, orders):
    response = _export(
        organiser, edition, "xlsx", list="participants", organisation="Aarhus Kommune"
    )
    names = [row[0] for row in _xlsx_rows(response)[1:]]
    assert names == ["Lars Alt", "Mette Vegan"]
    response = _export(organiser, edition, "csv", organisation="Odense Kommune")
    assert [row[0] for row in _csv_rows(response)[1:]] == ["Ole Formel"]


def test_the_unpaid_list_has_the_outstanding_invoices_only(organiser, edition, orders):
    aarhus, odense = orders
    response = _export(organiser, edition, "xlsx", list="unpaid")
    header, *rows = _xlsx_rows(response)
    assert header[0] == "Invoice" and header[-1] == "Outstanding (kr.)"
    (row,) = rows
    assert row[0] == invoice_for_order(odense).number and row[3] == odense.reference
    assert float(row[-1]) == 3218.75  # a number in kroner, not text
    csv_rows = _csv_rows(_export(organiser, edition, "csv", list="unpaid"))
    assert csv_rows[1][-1] == "3218,75"


def test_an_unknown_list_or_organisation_is_not_found(organiser, edition, orders):
    assert _export(organiser, edition, "csv", list="everything").status_code == 404
    assert _export(organiser, edition, "xlsx", organisation="Nowhere").status_code == 404


def test_the_registrant_page_offers_the_exports(organiser, edition, orders):
    page = organiser.get(f"/staff/e/{edition.slug}/registrants").get_data(as_text=True)
    assert "Participants with dietary needs (for the venue)" in page
    assert '<option value="Odense Kommune">' in page
    assert "/registrants/export.csv" in page and "/registrants/export.xlsx" in page


def test_every_new_route_is_for_organisers_only(app):
    for endpoint in NEW_ENDPOINTS:
        assert app.view_functions[endpoint].allowed_roles == {"organiser"}, endpoint


@pytest.mark.parametrize("role", ["accounting", "checkin", None])
def test_other_roles_and_anonymous_visitors_are_refused(app, edition, orders, role):
    aarhus, _odense = orders
    client = app.test_client()
    if role:
        make_staff(f"{role}@example.dk", role)
        log_in(client, f"{role}@example.dk")
    base = f"/staff/e/{edition.slug}"
    attendee = aarhus.attendees[0].id
    routes = [
        ("GET", f"{base}/registrants/export.csv?list=dietary"),
        ("GET", f"{base}/registrants/export.xlsx"),
        ("GET", f"{base}/register"),
        ("POST", f"{base}/register"),
        ("POST", f"{base}/orders/{aarhus.reference}/booker"),
        ("POST", f"{base}/orders/{aarhus.reference}/resend"),
        ("POST", f"{base}/orders/{aarhus.reference}/places/{attendee}/edit"),
        ("POST", f"{base}/orders/{aarhus.reference}/places/{attendee}/move"),
        ("POST", f"{base}/orders/{aarhus.reference}/places/{attendee}/resend"),
    ]
    for method, url in routes:
        response = client.open(url, method=method, data={"name": "X", "confirm": "y"})
        assert response.status_code == (403 if role else 302), (role, url)
    db.session.expire_all()
    assert db.session.get(type(aarhus), aarhus.id).booker_name == "Hanne Jensen"
