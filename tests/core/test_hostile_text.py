"""Names and texts with markup, script, spreadsheet formulas, line breaks and control
characters, typed into the public forms, come out as harmless text everywhere they
are shown: pages, e-mails (bodies and headers), PDFs, CSV and XLSX files, UBL.

The values go in through the real forms (a raw POST may carry what no browser
field lets a person type); every output is then taken where its reader takes it:
the page from the server, the e-mail as the worker builds it, the files from the
staff download links. What the outputs may drop are the control characters that
have no place in the format (XML 1.0 in XLSX and UBL, glyphs in a PDF, one line in
a mail header); the rest of the text stays as typed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from conference.core.db import db
from conference.invoicing.models import Invoice
from conference.mail.services import build_email
from conference.registration.models import Order
from tests.auth.conftest import _fresh_login_per_request  # noqa: F401 - autouse: two staff clients
from tests.auth.helpers import log_in, make_staff
from tests.backoffice.test_registrant_moves import partner  # noqa: F401 - a fixture used here
from tests.conftest import booking_form
from tests.invoicing.peppol import assert_valid_peppol
from tests.invoicing.test_ubl import parsed, text
from tests.mail.helpers import outbox

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example/x","Klik")'
# BEL, ESC, vertical tab, DEL, a C1 control (NEL): pasted from a terminal or a PDF.
CONTROLS = "\x07\x1b[31m\x0b\x7f\x85"
#: A participant's name: starts like a formula, carries markup and control
#: characters, and a line break that would be a new header in an e-mail subject.
NAME = f"{FORMULA}{SCRIPT}Søren{CONTROLS}Ærø\r\nBcc: mallory@evil.example"
#: The organisation on the invoice and in the exports.
ORGANISATION = f'@SUM(A1:A9){CONTROLS}<img src="http://127.0.0.1:9/t.png"> & "Søn"'
DIETARY = f"+45{CONTROLS}{SCRIPT}"
#: What the values would inject if they were not escaped.
MARKUP = ("<script>alert(1)", '<img src="http://127.0.0.1:9')
#: No glyph (a PDF), no place in a header line.
UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: What XML 1.0 cannot hold (XLSX, UBL); DEL and the C1 controls it can.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _as_xml_text(text: str) -> str:
    return NOT_XML.sub("", text)


def pdf_text(pdf: bytes) -> str:
    """The PDF's text in reading order (not -layout: columns would interleave)."""
    assert pdf.startswith(b"%PDF-")
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


@pytest.fixture
def hostile(client, edition):
    """One order placed through the public form with the hostile values."""
    # One participant: a sheet of badges has one badge, whose text is not interleaved.
    data = booking_form(
        edition,
        1,
        booker_name=NAME,
        organisation=ORGANISATION,
        invoice_organisation=ORGANISATION,
        **{"attendees-0-name": NAME, "attendees-0-dietary": DIETARY},
    )
    response = client.post(f"/e/{edition.slug}/register", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    order = db.session.scalar(select(Order))
    # Stored as typed (the outputs make it harmless, not the input).
    assert order.attendees[0].name == NAME
    return response.headers["Location"].split("?")[0], order


@pytest.fixture
def organiser(app):
    make_staff("organiser@example.dk", "organiser")
    client = app.test_client()
    log_in(client, "organiser@example.dk")
    return client


@pytest.fixture
def accountant(app):
    make_staff("bogholder@example.dk", "accounting")
    client = app.test_client()
    log_in(client, "bogholder@example.dk")
    return client


def _assert_escaped_page(html: str, where: str) -> None:
    for markup in MARKUP:
        assert markup not in html, f"{where}: {markup} unescaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, where


def test_pages_show_the_text_escaped(client, organiser, edition, hostile):
    manage_link, order = hostile
    attendee = order.attendees[0]
    slug = edition.slug
    pages = {
        "booker's manage page": client.get(manage_link),
        "transfer form": client.get(f"{manage_link}/transfer/{attendee.id}"),
        "registrants": organiser.get(f"/staff/e/{slug}/registrants"),
        "order page": organiser.get(f"/staff/e/{slug}/orders/{order.reference}"),
        "place page": organiser.get(f"/staff/e/{slug}/places/{attendee.id}"),
        "door search": organiser.get(f"/staff/e/{slug}/checkin", query_string={"q": "Søren"}),
    }
    for where, response in pages.items():
        assert response.status_code == 200, where
        _assert_escaped_page(response.get_data(as_text=True), where)
    audit = organiser.get("/staff/audit").get_data(as_text=True)
    assert not [markup for markup in MARKUP if markup in audit]
    # The personal data download is JSON: the name as typed, inside a string.
    data = client.get(f"{manage_link}/my-data.json").get_json()
    assert json.dumps(NAME)[1:-1] in json.dumps(data)


def test_every_email_is_escaped_and_its_headers_stay_on_one_line(
    organiser,
    edition,
    hostile,
    partner,  # noqa: F811 - the fixture
):
    _, order = hostile
    attendee = order.attendees[0]
    # Moving the place sends a mail whose subject names the participant.
    moved = organiser.post(
        f"/staff/e/{edition.slug}/orders/{order.reference}/places/{attendee.id}/move",
        data={
            f"m{attendee.id}-version": str(attendee.ticket_version),
            f"m{attendee.id}-ticket_type_id": str(partner.id),
            f"m{attendee.id}-confirm": "y",
        },
    )
    assert moved.status_code == 303
    messages = outbox()
    assert {"order_confirmation", "ticket", "place_moved"} <= {m.kind for m in messages}
    for message in messages:
        sent = message_from_bytes(build_email(message).as_bytes(), policy=default_policy)
        subject = sent["Subject"]
        assert "\r" not in subject and "\n" not in subject, message.kind
        assert not UNPRINTABLE.search(subject), message.kind
        assert sent["Bcc"] is None and "mallory" not in str(sent["To"]), message.kind
        html = message.body_html or ""
        for markup in MARKUP:
            assert markup not in html, f"{message.kind}: {markup} in the HTML body"
    (moved_mail,) = [m for m in messages if m.kind == "place_moved"]
    assert "Bcc: mallory@evil.example" in moved_mail.subject  # text in the subject, no header
    ticket = next(m for m in messages if m.kind == "ticket" and m.to_address.startswith("kollega1"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Søren" in ticket.body_html
    assert f"{SCRIPT}Søren" in ticket.body_text  # plain text shows what was typed


def test_pdfs_print_the_text_as_typed_without_control_characters(
    client, organiser, accountant, edition, hostile
):
    manage_link, order = hostile
    attendee = order.attendees[0]
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    documents = {
        "invoice": accountant.get(f"/staff/accounting/documents/{invoice.id}/pdf"),
        "ticket": client.get(f"{manage_link}/ticket/{attendee.id}.pdf"),
        "badges": organiser.get(f"/staff/e/{edition.slug}/badges.pdf"),
    }
    for name, response in documents.items():
        assert response.status_code == 200, name
        text = pdf_text(response.get_data())
        # pdftotext ends each page with a form feed; nothing else may be a control.
        assert not UNPRINTABLE.search(text.replace("\x0c", "")), f"{name}: a control printed"
        # Long names wrap anywhere in the layout: compare without the white space.
        flat = "".join(text.split())
        assert "<script>alert(1)</script>Søren[31mÆrø" in flat, name
        assert '@SUM(A1:A9)[31m<imgsrc="http://127.0.0.1:9/t.png">&"Søn"' in flat, name


def _csv_cells(response) -> list[str]:
    text = response.get_data(as_text=True).removeprefix("\ufeff")
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    return [cell for row in rows for cell in row]


def test_csv_files_neutralise_formulas(organiser, accountant, edition, hostile):
    slug = edition.slug
    files = {
        "registrants": organiser.get(f"/staff/e/{slug}/registrants.csv"),
        "participants": organiser.get(f"/staff/e/{slug}/registrants/export.csv"),
        "dietary": organiser.get(f"/staff/e/{slug}/registrants/export.csv?list=dietary"),
        "ledger": accountant.get("/staff/accounting/ledger.csv"),
        "audit": organiser.get("/staff/audit.csv"),
    }
    for name, response in files.items():
        assert response.status_code == 200, name
        cells = _csv_cells(response)
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))], name
    ledger = _csv_cells(files["ledger"])
    assert "'" + ORGANISATION in ledger
    participants = _csv_cells(files["participants"])
    assert "'" + NAME in participants


def test_xlsx_files_open_and_hold_the_text_as_text(organiser, accountant, edition, hostile):
    slug = edition.slug
    files = {
        "participants": organiser.get(f"/staff/e/{slug}/registrants/export.xlsx"),
        "dietary": organiser.get(f"/staff/e/{slug}/registrants/export.xlsx?list=dietary"),
        "ledger": accountant.get("/staff/accounting/ledger.xlsx"),
    }
    for name, response in files.items():
        assert response.status_code == 200, name
        sheet = load_workbook(io.BytesIO(response.get_data())).active
        cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
        assert not [c for c in cells if c.data_type == "f"], f"{name}: a formula cell"
        values = [str(c.value) for c in cells]
        assert not [v for v in values if NOT_XML.search(v)], name
        if name == "ledger":
            assert _as_xml_text(ORGANISATION) in values
        else:
            assert _as_xml_text(NAME) in values, (name, values)
    dietary = load_workbook(io.BytesIO(files["dietary"].get_data())).active
    assert _as_xml_text(DIETARY) in [c.value for row in dietary.iter_rows() for c in row]


def test_ubl_keeps_the_text_and_stays_valid(accountant, hostile):
    _, order = hostile
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    response = accountant.get(f"/staff/accounting/documents/{invoice.id}/ubl")
    assert response.status_code == 200
    xml = response.get_data()
    assert b"<img" not in xml and b"<script" not in xml
    assert_valid_peppol(xml, "hostile buyer")
    tree = parsed(xml)
    buyer = text(tree, "cac:AccountingCustomerParty/cac:Party/cac:PartyName/cbc:Name")
    assert buyer == _as_xml_text(ORGANISATION)
    contact = text(tree, "cac:AccountingCustomerParty/cac:Party/cac:Contact/cbc:Name")
    assert "<script>alert(1)</script>Søren" in contact


def test_an_exhibitor_s_texts_come_out_as_text(client, organiser, edition):
    from tests.stands.conftest import booking_form_data, make_hall

    make_hall(edition)
    response = client.post(
        f"/e/{edition.slug}/exhibition/stands/A2",
        data=booking_form_data(company=ORGANISATION, contact_name=NAME),
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    manage_link = response.headers["Location"].split("?")[0]
    named = client.post(
        f"{manage_link}/staff",
        data={"staff-name": f"{FORMULA}{SCRIPT}{CONTROLS}", "staff-email": "jonas@kd.dk"},
    )
    assert named.status_code == 303, named.get_data(as_text=True)[:500]

    for url in (manage_link, f"/e/{edition.slug}/exhibition", f"/e/{edition.slug}/exhibitors"):
        html = client.get(url).get_data(as_text=True)
        assert '<img src="http://127.0.0.1:9' not in html and SCRIPT not in html, url
    html = client.get(manage_link).get_data(as_text=True)
    pass_pdf = re.search(r'href="(/s/[^"]+/passes/\d+\.pdf)"', html).group(1)
    text = pdf_text(client.get(pass_pdf).get_data())
    assert SCRIPT in "".join(text.split()) and not UNPRINTABLE.search(text.replace("\x0c", ""))

    csv_text = organiser.get(f"/staff/e/{edition.slug}/stands/exhibitors.csv").get_data(
        as_text=True
    )
    rows = list(csv.reader(io.StringIO(csv_text.removeprefix("\ufeff")), delimiter=";"))
    assert not [c for row in rows for c in row if c.startswith(("=", "+", "-", "@"))]
    sheet = load_workbook(
        io.BytesIO(organiser.get(f"/staff/e/{edition.slug}/stands/exhibitors.xlsx").get_data())
    ).active
    values = [c.value for row in sheet.iter_rows() for c in row if c.value is not None]
    assert _as_xml_text(ORGANISATION) in values
    assert not [v for v in values if isinstance(v, str) and NOT_XML.search(v)]
    for message in outbox():
        assert "<img" not in (message.body_html or "") and SCRIPT not in (message.body_html or "")
        build_email(message)  # sendable
