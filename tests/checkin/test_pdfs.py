"""The one-page ticket PDF and the sheets of name badges."""

from __future__ import annotations

import base64
import re
import subprocess

from conference.checkin.services import (
    _qr_data_uri,
    badge_list,
    ticket_payload,
    ticket_snapshot,
)
from conference.core.db import db
from conference.core.security import unsign_ticket_code
from conference.registration.services import cancel_attendee, place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details


def pdf_text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True
    )
    return re.sub(r"[ \t]+", " ", out.stdout.decode())


def pdf_pages(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True).stdout.decode()
    return int(info.split("Pages:")[1].split()[0])


def test_the_ticket_pdf_shows_event_holder_type_and_qr_on_one_page(client, placed, edition):
    attendee = placed.order.attendees[0]
    link = f"/m/{placed.attendee_tokens[attendee.id]}"
    response = client.get(f"{link}/ticket/{attendee.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    pdf = response.data
    assert pdf_pages(pdf) == 1
    text = pdf_text(pdf)
    assert "Digitaliseringstræf" in text and "mandag den" in text
    assert "Kollega 1" in text and "Aarhus Kommune" in text
    assert "Deltager" in text  # the ticket type, in the order's language (Danish)
    assert placed.order.reference in text
    assert "Scandic Falconer" in text
    # Another place's ticket is not behind this link.
    other = placed.order.attendees[1]
    assert client.get(f"{link}/ticket/{other.id}.pdf").status_code == 404
    assert client.get(f"/m/nonsense/ticket/{attendee.id}.pdf").status_code == 404


def test_the_ticket_qr_carries_the_signed_code_and_no_personal_data(placed):
    attendee = placed.order.attendees[0]
    snapshot = ticket_snapshot(attendee, "da")
    payload = snapshot["payload"]
    assert payload == ticket_payload(attendee)
    assert unsign_ticket_code(payload) == attendee.ticket_code
    assert "Kollega" not in payload and "aarhus" not in payload.lower()
    svg = base64.b64decode(_qr_data_uri(payload).split(",", 1)[1]).decode()
    assert svg.startswith("<?xml") and "<svg" in svg and "Kollega" not in svg


def test_the_ticket_pdf_in_english(client, placed):
    attendee = placed.order.attendees[0]
    link = f"/m/{placed.attendee_tokens[attendee.id]}"
    text = pdf_text(client.get(f"{link}/ticket/{attendee.id}.pdf?lang=en").data)
    assert "Participant" in text and "Order reference" in text


def _organiser(client):
    make_staff("organiser@example.dk", "organiser")
    log_in(client, "organiser@example.dk")


def test_badges_for_everyone_eight_to_a_page(client, edition):
    for n in range(3):
        details = booking_details(edition, 3, booker_email=f"b{n}@odense.dk")
        details.organisation = f"Kommune {n}"
        for index, attendee in enumerate(details.attendees):
            attendee.email = f"p{n}{index}@odense.dk"
            attendee.name = f"Person {n}{index}"
        place_order(edition, details)
    db.session.commit()
    _organiser(client)
    page = client.get(f"/staff/e/{edition.slug}/badges?lang=en")
    assert page.status_code == 200 and "9 badges" in page.get_data(as_text=True)
    response = client.get(f"/staff/e/{edition.slug}/badges.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pdf = response.data
    assert pdf_pages(pdf) == 2  # 9 badges, 8 on an A4 sheet
    text = pdf_text(pdf)
    for n in range(3):
        assert f"Kommune {n}" in text
        for index in range(3):
            assert f"Person {n}{index}" in text
    # The organiser's language (English, chosen at the login).
    assert "Digitaliseringskonsulent" in text and "Participant" in text
    assert "MUNICIPAL DIGITALISATION" in text


def test_badges_for_a_filter(client, placed, edition):
    first, second = placed.order.attendees
    speaker_type = next(t for t in edition.ticket_types if t.access_code == "TALER2027")
    speaker = booking_details(edition, 1, access_code="TALER2027", ticket_type_id=speaker_type.id)
    speaker.attendees[0].name = "Taler Tine"
    speaker.attendees[0].email = "tine@aarhus.dk"
    place_order(edition, speaker)
    cancel_attendee(second, actor="staff:1")
    db.session.commit()
    names = [b.name for b in badge_list(edition)]
    assert names == ["Kollega 1", "Taler Tine"]  # cancelled places get no badge
    assert [b.name for b in badge_list(edition, ticket_type_id=speaker_type.id)] == ["Taler Tine"]
    assert [b.name for b in badge_list(edition, query="tine")] == ["Taler Tine"]
    assert badge_list(edition, arrival="arrived") == []

    _organiser(client)
    text = pdf_text(
        client.get(f"/staff/e/{edition.slug}/badges.pdf?ticket_type={speaker_type.id}").data
    )
    assert "Taler Tine" in text and "Kollega 1" not in text and "Speaker" in text
    text = pdf_text(client.get(f"/staff/e/{edition.slug}/badges.pdf?q=nobody").data)
    assert "Kollega" not in text  # an empty sheet, not an error
    # An invalid filter is an error, not every badge (see test_door_after_review).
    assert client.get(f"/staff/e/{edition.slug}/badges.pdf?ticket_type=abc").status_code == 422


def test_badges_are_for_organisers_only(app, client, edition):
    assert app.view_functions["checkin.badges_pdf"].allowed_roles == {"organiser"}
    make_staff("door@example.dk", "checkin")
    log_in(client, "door@example.dk")
    assert client.get(f"/staff/e/{edition.slug}/badges.pdf").status_code == 403


def test_the_ticket_file_is_named_in_the_tickets_language_with_the_name_spelt_in_ascii(
    client, edition
):
    from conference.checkin.services import ticket_filename

    placed = place_order(edition, booking_details(edition, 1))
    db.session.commit()
    attendee = placed.order.attendees[0]
    snapshot = dict(ticket_snapshot(attendee, "da"), name="Søren Ærø-Ågård <b>")
    reference = placed.order.reference
    assert ticket_filename(snapshot) == f"Billet-{reference}-Soeren-Aeroe-Aagaard-b.pdf"
    english = dict(snapshot, language="en", name="李 小龍")
    assert ticket_filename(english) == f"Ticket-{reference}-Ticket.pdf"
