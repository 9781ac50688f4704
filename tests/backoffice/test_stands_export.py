"""The exhibitor list as CSV (Danish Excel) and XLSX, with formula injection made harmless."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.auth.helpers import log_in, make_staff
from tests.backoffice.stands_helpers import insert_booking, make_hall, power_snapshot

EVIL = '=HYPERLINK("x")'


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


@pytest.fixture
def bookings(edition):
    hall = make_hall(edition)
    netic = insert_booking(
        edition,
        hall["A2"],
        company="Netic A/S",
        addons=power_snapshot(hall["power"], 2),
        staff=("Ida Holm", "Bo Nielsen"),
    )
    evil = insert_booking(edition, hall["A1"], company=EVIL, status="requested")
    gone = insert_booking(edition, hall["A3"], company="Før ApS", status="cancelled")
    return netic, evil, gone


def _csv_rows(response) -> list[list[str]]:
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_the_csv_lists_every_exhibitor_with_the_asked_columns(organiser, edition, bookings):
    response = organiser.get(f"/staff/e/{edition.slug}/stands/exhibitors.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="traef-exhibitors.csv"' in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    assert b"\r\n" in response.data
    header, *rows = _csv_rows(response)
    assert header[:15] == [
        "Company", "CVR number", "Stand", "Package", "Add-ons", "Contact person", "E-mail",
        "Phone", "Invoice e-mail", "EAN location number", "Status", "Excl. VAT (kr.)",
        "VAT (kr.)", "Incl. VAT (kr.)", "Stand staff",
    ]  # fmt: skip
    # Stand holders by stand code, then the cancelled booking.
    assert [row[2] for row in rows] == ["A1", "A2", "A3"]
    netic = rows[1]
    assert netic[:11] == [
        "Netic A/S", "25313763", "A2", "Standardpakke", "2 × Ekstra strøm", "Mette Holm",
        "mette@netic.dk", "'+45 70 20 20 20", "faktura@netic.dk", "5790001330552", "Confirmed",
    ]  # fmt: skip
    # The phone number's "+" would start a formula: the shared helper quotes it.
    assert netic[11:14] == ["26500,00", "6625,00", "33125,00"]
    assert netic[14] == "Ida Holm <staff0@netic.dk>; Bo Nielsen <staff1@netic.dk>"
    assert rows[2][0] == "Før ApS" and rows[2][10] == "Cancelled"


def test_a_formula_in_a_company_name_comes_out_as_text(organiser, edition, bookings):
    rows = _csv_rows(organiser.get(f"/staff/e/{edition.slug}/stands/exhibitors.csv"))
    assert rows[1][0] == "'" + EVIL
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)


def test_the_csv_is_danish_on_a_danish_page(organiser, edition, bookings):
    organiser.get(f"/staff/e/{edition.slug}/stands?lang=da")
    header, *rows = _csv_rows(organiser.get(f"/staff/e/{edition.slug}/stands/exhibitors.csv"))
    assert header[0] == "Virksomhed" and "Bekræftet" in rows[1]


def test_the_xlsx_has_numbers_for_amounts_and_strings_for_text(organiser, edition, bookings):
    response = organiser.get(f"/staff/e/{edition.slug}/stands/exhibitors.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["Cache-Control"] == "no-store"
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Company"
    evil_cell = sheet.cell(row=2, column=1)
    assert evil_cell.value == EVIL and evil_cell.data_type == "s"  # shown, never run
    netic = rows[2]
    assert netic[0] == "Netic A/S"
    assert [float(v) for v in netic[11:14]] == [26500.0, 6625.0, 33125.0]
    # No formula anywhere in the file.
    with __import__("zipfile").ZipFile(io.BytesIO(response.data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
