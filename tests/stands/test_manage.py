"""The exhibitor's manage link: documents, naming staff within the allowance and before the
deadline, extra passes, name changes that retire the old QR, and the company profile."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from conference.checkin.services import pass_qr_svg
from conference.core.db import db, utcnow
from conference.invoicing.services import stand_booking_invoices
from conference.invoicing.ubl import invoice_ubl
from conference.mail.services import attachment_data
from conference.stands import services
from conference.stands.models import ExhibitorPass, StandBooking
from tests.invoicing.peppol import assert_valid_peppol
from tests.mail.helpers import outbox
from tests.stands.conftest import company_details, stand


def png_bytes(size=(120, 60), kind="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (11, 79, 138)).save(out, kind)
    return out.getvalue()


@pytest.fixture
def booked(edition, hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    return booked


def _page(client, booked, lang="da") -> str:
    response = client.get(f"/s/{booked.token}?lang={lang}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def _post(client, booked, path: str, data: dict, form_id: str, **kwargs):
    """Post a form of the manage page (the page shows it; CSRF is off in testing)."""
    assert f'id="{form_id}"' in _page(client, booked), f"the page has no {form_id}"
    return client.post(f"/s/{booked.token}{path}", data=data, **kwargs)


def _name(client, booked, name: str, email: str):
    return _post(
        client,
        booked,
        "/staff",
        {"staff-name": name, "staff-email": email, "staff-job_title": "Sælger"},
        "staff-form",
    )


def test_manage_page_shows_the_booking_and_its_invoice(client, booked):
    html = _page(client, booked, "en")
    assert booked.booking.reference in html and "Kommunedata 1 A/S" in html
    assert "A1 · 9 m²" in html and "0 of 2 passes named." in html
    (invoice,) = stand_booking_invoices(booked.booking)
    link = f"/s/{booked.token}/documents/{invoice.id}.pdf"
    assert link in html
    pdf = client.get(link)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF") and pdf.headers["Cache-Control"] == "no-store"
    assert invoice.number in pdf.headers["Content-Disposition"]


def test_another_bookings_document_and_a_wrong_token_are_not_found(client, edition, booked):
    other = services.book_stand(edition, stand(edition, "A2"), company_details(2))
    db.session.commit()
    (theirs,) = stand_booking_invoices(other.booking)
    assert client.get(f"/s/{booked.token}/documents/{theirs.id}.pdf").status_code == 404
    assert client.get("/s/not-a-token").status_code == 404


def test_naming_staff_sends_each_a_pass_with_the_ticket_and_calendar(client, booked):
    assert _name(client, booked, "Jonas Berg", "jonas@kommunedata.dk").status_code == 303
    assert _name(client, booked, "Ida Lund", "ida@kommunedata.dk").status_code == 303
    html = _page(client, booked, "en")
    assert "2 of 2 passes named." in html and "Jonas Berg" in html and "Ida Lund" in html
    assert 'id="staff-form"' not in html  # the allowance is used up
    mails = outbox("stand_pass")
    assert [m.to_address for m in mails] == ["jonas@kommunedata.dk", "ida@kommunedata.dk"]
    kinds = [a["content_type"].split(";")[0] for a in mails[0].attachments]
    assert kinds == ["text/calendar", "application/pdf"]
    assert attachment_data(mails[0].attachments[1]).startswith(b"%PDF")
    assert "A1" in mails[0].body_text and "Kommunedata 1 A/S" in mails[0].body_text


def test_the_allowance_is_enforced(client, booked):
    for number in range(2):
        services.name_staff(
            booked.booking, services.StaffDetails(f"Person {number}", f"p{number}@example.dk")
        )
    db.session.commit()
    with pytest.raises(services.DomainError) as caught:
        services.name_staff(booked.booking, services.StaffDetails("Tre", "tre@example.dk"))
    assert "Alle 2 pas er navngivet" in caught.value.message
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ExhibitorPass)) == 2


def test_staff_form_errors_are_shown_and_nothing_is_written(client, booked):
    response = _post(
        client, booked, "/staff", {"staff-name": "", "staff-email": "nope"}, "staff-form"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Feltet skal udfyldes." in html
    assert db.session.scalar(select(func.count()).select_from(ExhibitorPass)) == 0


def test_extra_passes_are_invoiced_and_raise_the_allowance(client, booked):
    response = _post(client, booked, "/extra-passes", {"extra-quantity": "2"}, "extra-form")
    assert response.status_code == 303
    booking = db.session.get(StandBooking, booked.booking.id)
    assert booking.extra_passes == 2 and booking.pass_allowance == 4
    invoices = stand_booking_invoices(booking)
    assert len(invoices) == 2
    extra = invoices[1]
    assert extra.net_ore == 300_000 and extra.total_ore == 375_000
    (mail,) = outbox("stand_extra_passes")
    assert mail.attachments[0]["invoice_id"] == extra.id
    assert "0 of 4 passes named." in _page(client, booked, "en")
    # At most the add-on's maximum (4) all told.
    too_many = _post(client, booked, "/extra-passes", {"extra-quantity": "3"}, "extra-form")
    assert too_many.status_code == 422
    assert "Vælg et tal fra 1 til 2." in too_many.get_data(as_text=True)
    assert len(stand_booking_invoices(booking)) == 2


def test_a_name_change_rotates_the_ticket_code_so_the_old_qr_is_refused(client, booked):
    from conference.checkin.services import ScanResult, check_in_payload

    services.name_staff(booked.booking, services.StaffDetails("Jonas Berg", "jonas@kd.dk"))
    db.session.commit()
    exhibitor_pass = db.session.scalar(select(ExhibitorPass))
    old_code, old_qr = exhibitor_pass.ticket_code, pass_qr_svg(exhibitor_pass)
    from conference.core.security import sign_ticket_code

    old_payload = sign_ticket_code(old_code)
    response = _post(
        client,
        booked,
        f"/staff/{exhibitor_pass.id}",
        {
            f"pass-{exhibitor_pass.id}-name": "Karen Vind",
            f"pass-{exhibitor_pass.id}-email": "karen@kd.dk",
            f"pass-{exhibitor_pass.id}-version": "1",
        },
        f"pass-{exhibitor_pass.id}",
    )
    assert response.status_code == 303
    db.session.refresh(exhibitor_pass)
    assert exhibitor_pass.name == "Karen Vind" and exhibitor_pass.ticket_version == 2
    assert exhibitor_pass.ticket_code != old_code and pass_qr_svg(exhibitor_pass) != old_qr
    assert [m.to_address for m in outbox("stand_pass")] == ["jonas@kd.dk", "karen@kd.dk"]
    # The door refuses the old QR and admits the new one.
    edition = booked.booking.edition
    assert check_in_payload(edition, old_payload, actor="staff:1").result != ScanResult.ADMITTED
    new_payload = sign_ticket_code(exhibitor_pass.ticket_code)
    assert check_in_payload(edition, new_payload, actor="staff:1").result == ScanResult.ADMITTED


def test_a_stale_change_form_is_refused(client, booked):
    services.name_staff(booked.booking, services.StaffDetails("Jonas Berg", "jonas@kd.dk"))
    db.session.commit()
    pass_id = db.session.scalar(select(ExhibitorPass.id))
    services.change_staff(
        booked.booking, pass_id, services.StaffDetails("Karen Vind", "karen@kd.dk")
    )
    db.session.commit()
    with pytest.raises(services.DomainError):
        services.change_staff(
            booked.booking,
            pass_id,
            services.StaffDetails("Ole Sand", "ole@kd.dk"),
            expected_version=1,
        )
    db.session.rollback()
    assert db.session.get(ExhibitorPass, pass_id).name == "Karen Vind"


def test_after_the_staff_deadline_names_cannot_be_given_or_changed(client, booked, hall):
    services.name_staff(booked.booking, services.StaffDetails("Jonas Berg", "jonas@kd.dk"))
    hall.staff_deadline = utcnow() - timedelta(minutes=1)
    db.session.commit()
    pass_id = db.session.scalar(select(ExhibitorPass.id))
    html = _page(client, booked, "en")
    assert "The deadline for naming the stand staff was" in html
    assert 'id="staff-form"' not in html and "Change the name on this pass" not in html
    with pytest.raises(services.StaffDeadlinePassed):
        services.change_staff(booked.booking, pass_id, services.StaffDetails("K", "k@kd.dk"))
    db.session.rollback()
    with pytest.raises(services.StaffDeadlinePassed):
        services.name_staff(booked.booking, services.StaffDetails("Ida", "ida@kd.dk"))
    db.session.rollback()
    with pytest.raises(services.StaffDeadlinePassed):
        services.buy_extra_passes(booked.booking, 1)
    db.session.rollback()
    assert db.session.get(ExhibitorPass, pass_id).name == "Jonas Berg"
    # A post from a page opened before the deadline is refused the same way.
    response = client.post(
        f"/s/{booked.token}/staff",
        data={"staff-name": "Ida", "staff-email": "ida@kd.dk"},
    )
    assert response.status_code == 409
    assert "The deadline for naming the stand staff was" in response.get_data(as_text=True)


def _upload(client, booked, data: bytes, filename: str, **fields):
    form = {
        "profile-description": fields.get("description", "Vi laver software til kommuner."),
        "profile-website": fields.get("website", "www.kommunedata.dk"),
        "profile-logo": (io.BytesIO(data), filename),
    }
    return client.post(f"/s/{booked.token}/profile", data=form, content_type="multipart/form-data")


def test_profile_with_a_png_logo_is_shown_on_the_public_list(client, edition, booked):
    response = _upload(client, booked, png_bytes(), "logo.png")
    assert response.status_code == 303
    booking = db.session.get(StandBooking, booked.booking.id)
    assert booking.logo_type == "image/png" and booking.website == "https://www.kommunedata.dk"
    html = client.get(f"/e/{edition.slug}/exhibitors").get_data(as_text=True)
    assert "Kommunedata 1 A/S" in html and "Vi laver software til kommuner." in html
    logo_url = f"/e/{edition.slug}/exhibitors/{booking.id}/logo"
    assert logo_url in html
    logo = client.get(logo_url)
    assert logo.status_code == 200 and logo.mimetype == "image/png"
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    assert logo.data == booking.logo


def test_a_jpeg_logo_is_stored_as_jpeg_whatever_its_name(client, booked):
    assert _upload(client, booked, png_bytes(kind="JPEG"), "logo.png").status_code == 303
    assert db.session.get(StandBooking, booked.booking.id).logo_type == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"Hello, I am text pretending to be a picture.\n" * 10, "logo.png", "PNG- eller JPEG"),
        (b"GIF89a" + b"\x00" * 100, "logo.gif", "PNG- eller JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "broken.png", "PNG- eller JPEG"),
        (b"\x89PNG" + b"0" * (1024 * 1024 + 10), "big.png", "for stort"),
    ],
    ids=["text-renamed-png", "gif", "truncated-png", "too-large"],
)
def test_logo_uploads_that_are_not_small_png_or_jpeg_are_refused(
    client, booked, data, filename, message
):
    response = _upload(client, booked, data, filename)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    booking = db.session.get(StandBooking, booked.booking.id)
    assert booking.logo is None and booking.description == ""


def test_a_gif_disguised_with_real_image_data_is_refused(client, booked):
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "GIF")
    response = _upload(client, booked, out.getvalue(), "logo.png")
    assert response.status_code == 422
    assert db.session.get(StandBooking, booked.booking.id).logo is None


def test_a_website_that_is_not_a_web_address_is_refused(client, booked):
    response = _upload(client, booked, png_bytes(), "logo.png", website="javascript:alert(1)")
    assert response.status_code == 422
    assert db.session.get(StandBooking, booked.booking.id).website == ""


def test_the_public_list_shows_only_confirmed_exhibitors(client, edition, booked):
    services.cancel_booking(booked.booking, actor="staff:1")
    db.session.commit()
    html = client.get(f"/e/{edition.slug}/exhibitors").get_data(as_text=True)
    assert "Kommunedata 1 A/S" not in html
    assert client.get(f"/e/{edition.slug}/exhibitors/{booked.booking.id}/logo").status_code == 404


def test_the_stand_invoice_passes_the_peppol_validator(edition, hall):
    from tests.stands.conftest import addon_id

    details = company_details(
        ean="5798000000001",
        personreference="HJ-4711",
        buyer_order_number="PO-17",
        accounting_cost="1234-5678",
        addons={addon_id(edition, "extra_pass"): 1, addon_id(edition, "power"): 1},
    )
    booked = services.book_stand(edition, stand(edition, "A4"), details)
    db.session.commit()
    (invoice,) = stand_booking_invoices(booked.booking)
    assert_valid_peppol(invoice_ubl(invoice), f"{invoice.number}.xml")
    credit = services.cancel_booking(booked.booking, actor="staff:1").credit_notes[0]
    db.session.commit()
    assert_valid_peppol(invoice_ubl(credit), f"{credit.number}.xml")


def test_the_exhibitor_list_never_reads_the_logos_it_links_to(app, client, edition, booked):
    from sqlalchemy import event

    assert _upload(client, booked, png_bytes(), "logo.png").status_code == 303
    statements: list[str] = []

    def seen(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        html = client.get(f"/e/{edition.slug}/exhibitors").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert f"/exhibitors/{booked.booking.id}/logo" in html
    # A page of logos would otherwise carry every picture's bytes from the database.
    assert not any("stand_booking.logo," in s or "stand_booking.logo " in s for s in statements)


def test_a_cancelled_booking_says_so_beside_its_price_and_lists_the_credit_note(
    client, edition, booked
):
    credit = services.cancel_booking(booked.booking, actor="staff:1").credit_notes[0]
    db.session.commit()
    html = client.get(f"/s/{booked.token}?lang=da").get_data(as_text=True)
    assert "Arrangøren har annulleret denne booking" in html
    assert f"Kreditnota {credit.number}" in html
    english = client.get(f"/s/{booked.token}?lang=en").get_data(as_text=True)
    assert "The organiser has cancelled this booking." in english
