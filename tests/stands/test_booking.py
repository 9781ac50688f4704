"""Booking a stand: validation, the one conditional write, invoice and e-mails, and the
organiser's decisions (approve, decline, move, cancel)."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from conference.core.db import db
from conference.core.errors import DomainError
from conference.core.models import AuditEvent
from conference.core.money import format_dkk
from conference.core.security import hash_token
from conference.invoicing.models import Invoice
from conference.invoicing.services import stand_booking_invoices
from conference.mail.services import attachment_data
from conference.stands import services
from conference.stands.models import (
    AddonKind,
    ExhibitorPass,
    ExhibitorPassStatus,
    StandBooking,
    StandBookingStatus,
    StandStatus,
)
from conference.stands.services import (
    BookingsClosed,
    InvalidStandBooking,
    StaffDetails,
    StandTaken,
)
from tests.checkin.test_pdfs import pdf_text
from tests.mail.helpers import outbox
from tests.stands.conftest import addon_id, company_details, stand


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_binding_booking_is_confirmed_invoiced_and_mailed_with_the_invoice(edition, hall):
    details = company_details(
        addons={addon_id(edition, AddonKind.EXTRA_PASS): 1, addon_id(edition, AddonKind.POWER): 2}
    )
    booked = services.book_stand(edition, stand(edition, "A1"), details)
    db.session.commit()

    booking = db.session.get(StandBooking, booked.booking.id)
    assert booking.status == StandBookingStatus.CONFIRMED
    assert booking.reference.startswith("ST") and len(booking.reference) == 8
    assert booking.stand.status == StandStatus.BOOKED and booking.stand.booking_id == booking.id
    # The token is not stored, only its hash.
    assert booking.manage_token_hash == hash_token(booked.token)
    assert booked.token not in booking.manage_token_hash
    assert booking.package_name == "Standardpakke" and booking.package_net_ore == 1_200_000
    assert [(a["name"], a["quantity"]) for a in booking.addons] == [
        ("Ekstra udstillerpas", 1),
        ("Ekstra strøm 16 A", 2),
    ]
    assert booking.pass_allowance == 3  # two included, one bought

    (invoice,) = stand_booking_invoices(booking)
    # 12.000 + 1.500 + 2 × 800 = 15.100,00 kr. + 25 % VAT = 18.875,00 kr.
    assert invoice.net_ore == 1_510_000 and invoice.total_ore == 1_887_500
    assert invoice.our_reference == booking.reference and invoice.buyer_cvr == "10150817"

    (mail,) = outbox("stand_confirmation")
    assert mail.to_address == "sara1@kommunedata.dk"
    assert booking.reference in mail.subject and "A1" in mail.subject
    assert f"/s/{booked.token}" in mail.body_text
    assert format_dkk(1_510_000) in mail.body_text and format_dkk(1_887_500) in mail.body_text
    (attachment,) = mail.attachments
    assert attachment["invoice_id"] == invoice.id
    assert attachment_data(attachment).startswith(b"%PDF")
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stand_booking.booked"))
    assert audit.object_id == booking.id and audit.data["stand"] == "A1"


def test_every_field_is_checked_and_nothing_is_written(app, edition, hall):
    details = company_details(
        company=" ",
        cvr="12345678",
        address="",
        postcode="27",
        city="",
        contact_name="",
        contact_email="sara@",
        contact_phone="",
        invoice_email="",
        ean="5798000000002",
        personreference="x" * 101,
        addons={addon_id(edition, AddonKind.POWER): 3, 999_999: 1},
        terms_accepted=False,
    )
    with force_locale("en"), pytest.raises(InvalidStandBooking) as caught:
        services.book_stand(edition, stand(edition, "A1"), details)
    errors = caught.value.errors
    power = f"addon-{addon_id(edition, AddonKind.POWER)}"
    assert set(errors) == {
        "company",
        "cvr",
        "address",
        "postcode",
        "city",
        "contact_name",
        "contact_email",
        "contact_phone",
        "invoice_email",
        "ean",
        "personreference",
        power,
        "addon-999999",
        "terms_accepted",
    }
    assert errors["cvr"] == "This is not a valid CVR number (8 digits)."
    assert errors[power] == "Choose a number from 0 to 2."
    assert "exhibitor terms" in errors["terms_accepted"]
    db.session.rollback()
    assert _count(StandBooking) == 0 and _count(Invoice) == 0 and outbox() == []
    assert stand(edition, "A1").status == StandStatus.FREE


def test_errors_are_in_the_users_language(app, edition, hall):
    details = company_details(cvr="1234", terms_accepted=False)
    with force_locale("da"), pytest.raises(InvalidStandBooking) as caught:
        services.book_stand(edition, stand(edition, "A1"), details)
    assert caught.value.errors["cvr"] == "Det er ikke et gyldigt CVR-nummer (8 cifre)."
    assert "udstillerbetingelserne" in caught.value.errors["terms_accepted"]


def test_cvr_and_ean_are_normalised(edition, hall):
    details = company_details(cvr="DK 10 15 08 17", ean="5798 0000 00001")
    booked = services.book_stand(edition, stand(edition, "A1"), details)
    db.session.commit()
    assert booked.booking.cvr == "10150817" and booked.booking.ean == "5798000000001"
    (invoice,) = stand_booking_invoices(booked.booking)
    assert invoice.buyer_is_public and invoice.buyer_ean == "5798000000001"


def test_a_taken_stand_is_refused_and_nothing_is_written(edition, hall):
    services.book_stand(edition, stand(edition, "A1"), company_details(1))
    db.session.commit()
    with pytest.raises(StandTaken) as caught:
        services.book_stand(edition, stand(edition, "A1"), company_details(2))
    assert "stand A1 blev netop taget" in caught.value.message
    db.session.rollback()
    assert _count(StandBooking) == 1 and _count(Invoice) == 1
    assert len(outbox("stand_confirmation")) == 1


def test_the_conditional_write_refuses_a_stand_taken_after_it_was_read(edition, hall):
    """The stand looked free when read; another booking took it before the write."""
    seen = stand(edition, "A2")
    services.book_stand(edition, seen, company_details(1))
    db.session.commit()
    # As another request would have it: read before the first booking committed.
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(seen, "status", StandStatus.FREE)
    with pytest.raises(StandTaken):
        services.book_stand(edition, seen, company_details(2))
    db.session.rollback()
    assert _count(StandBooking) == 1
    assert db.session.scalars(select(StandBooking.company)).all() == ["Kommunedata 1 A/S"]


def test_closed_bookings_are_refused(edition, hall):
    hall.bookings_open = False
    db.session.commit()
    with pytest.raises(BookingsClosed):
        services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.rollback()
    assert _count(StandBooking) == 0


def test_approval_mode_reserves_the_stand_and_sends_a_receipt(edition, approval_hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    booking = booked.booking
    assert booking.status == StandBookingStatus.REQUESTED
    assert booking.stand.status == StandStatus.RESERVED
    assert stand_booking_invoices(booking) == []
    (mail,) = outbox("stand_request_received")
    assert f"/s/{booked.token}" in mail.body_text and mail.attachments == []
    assert outbox("stand_confirmation") == []


def test_approving_a_request_confirms_invoices_and_sends_a_new_link(edition, approval_hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    approved = services.approve_booking(booked.booking, actor="staff:1")
    db.session.commit()
    booking = approved.booking
    assert booking.status == StandBookingStatus.CONFIRMED and booking.decided_by == "staff:1"
    assert booking.stand.status == StandStatus.BOOKED
    assert len(stand_booking_invoices(booking)) == 1
    (mail,) = outbox("stand_confirmation")
    assert f"/s/{approved.token}" in mail.body_text and mail.attachments[0]["invoice_id"]
    # The link from the request e-mail was replaced (only hashes are kept).
    with pytest.raises(DomainError):
        services.find_booking_by_token(booked.token)
    assert services.find_booking_by_token(approved.token).id == booking.id
    with pytest.raises(DomainError):
        services.approve_booking(booking, actor="staff:1")


def test_declining_a_request_frees_the_stand_and_tells_the_company(edition, approval_hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    services.decline_booking(booked.booking, actor="staff:1", reason="Kun kommunale leverandører")
    db.session.commit()
    assert booked.booking.status == StandBookingStatus.DECLINED
    a1 = stand(edition, "A1")
    assert a1.status == StandStatus.FREE and a1.booking_id is None
    (mail,) = outbox("stand_declined")
    assert "Kun kommunale leverandører" in mail.body_text
    assert _count(Invoice) == 0
    # The stand can be booked again.
    services.book_stand(edition, a1, company_details(2))
    db.session.commit()
    assert stand(edition, "A1").status == StandStatus.RESERVED


def test_moving_a_booking_takes_the_new_stand_and_frees_the_old(edition, hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    services.move_booking(booked.booking, stand(edition, "A3"), actor="staff:1")
    db.session.commit()
    booking = db.session.get(StandBooking, booked.booking.id)
    assert booking.stand.code == "A3" and booking.stand.status == StandStatus.BOOKED
    assert stand(edition, "A1").status == StandStatus.FREE
    assert stand(edition, "A1").booking_id is None
    (mail,) = outbox("stand_moved")
    assert "A1" in mail.body_text and "A3" in mail.body_text
    # The manage link still works.
    assert services.find_booking_by_token(booked.token).stand.code == "A3"


def test_the_staff_of_a_moved_stand_get_their_pass_again_with_the_new_stand(edition, hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    named = services.name_staff(
        booked.booking, StaffDetails(name="Jonas Berg", email="jonas@kommunedata.dk")
    )
    db.session.commit()
    code = named.ticket_code
    services.move_booking(booked.booking, stand(edition, "A3"), actor="staff:1")
    db.session.commit()
    first, again = outbox("stand_pass", to="jonas@kommunedata.dk")
    assert "flyttet fra A1 til A3" in again.body_text
    assert "flyttet fra A1 til A3" in again.body_html
    pdf = next(a for a in again.attachments if a["content_type"] == "application/pdf")
    assert "A3" in pdf_text(attachment_data(pdf))
    assert db.session.get(ExhibitorPass, named.id).ticket_code == code


def test_moving_to_a_taken_stand_changes_nothing(edition, hall):
    first = services.book_stand(edition, stand(edition, "A1"), company_details(1))
    services.book_stand(edition, stand(edition, "A2"), company_details(2))
    db.session.commit()
    with pytest.raises(StandTaken):
        services.move_booking(first.booking, stand(edition, "A2"), actor="staff:1")
    db.session.rollback()
    assert stand(edition, "A1").booking_id == first.booking.id
    assert stand(edition, "A1").status == StandStatus.BOOKED
    assert outbox("stand_moved") == []


def test_a_confirmed_booking_moves_only_within_its_package(edition):
    from tests.stands.conftest import make_hall

    make_hall(edition, stands=6)
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    with pytest.raises(DomainError) as caught:
        services.move_booking(booked.booking, stand(edition, "B1"), actor="staff:1")
    assert "samme pakke" in caught.value.message
    db.session.rollback()
    assert stand(edition, "B1").status == StandStatus.FREE


def test_cancelling_frees_the_stand_cancels_passes_and_credits(edition, hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    exhibitor_pass = services.name_staff(
        booked.booking, StaffDetails(name="Jonas Berg", email="jonas@kommunedata.dk")
    )
    db.session.commit()
    result = services.cancel_booking(booked.booking, actor="staff:1", reason="Firmaet er lukket")
    db.session.commit()
    booking = db.session.get(StandBooking, booked.booking.id)
    assert booking.status == StandBookingStatus.CANCELLED
    assert stand(edition, "A1").status == StandStatus.FREE
    assert exhibitor_pass.status == ExhibitorPassStatus.CANCELLED
    (note,) = result.credit_notes
    invoice, credit = stand_booking_invoices(booking)
    assert credit.id == note.id and credit.credited_invoice_id == invoice.id
    assert credit.total_ore == invoice.total_ore
    (mail,) = outbox("stand_cancelled")
    assert "Firmaet er lukket" in mail.body_text and note.number in mail.body_text
    assert mail.attachments[0]["invoice_id"] == note.id
    with pytest.raises(DomainError):
        services.cancel_booking(booking, actor="staff:1")


def test_cancelling_a_request_issues_no_credit_note(edition, approval_hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    db.session.commit()
    result = services.cancel_booking(booked.booking, actor="staff:1")
    db.session.commit()
    assert result.credit_notes == [] and _count(Invoice) == 0
    assert stand(edition, "A1").status == StandStatus.FREE


def test_floor_plan_says_status_in_words_and_shows_only_confirmed_companies(edition, hall):
    services.book_stand(edition, stand(edition, "A1"), company_details(1))
    db.session.commit()
    hall.booking_mode = "approval"
    db.session.commit()
    services.book_stand(edition, stand(edition, "A2"), company_details(2))
    db.session.commit()
    with force_locale("da"):
        plan = services.floor_plan(edition, "da")
    by_code = {s.code: s for s in plan.stands}
    assert (by_code["A1"].status, by_code["A1"].status_label) == ("booked", "Booket")
    assert (by_code["A2"].status, by_code["A2"].status_label) == ("reserved", "Reserveret")
    assert (by_code["A3"].status, by_code["A3"].status_label) == ("free", "Ledig")
    assert by_code["A1"].company == "Kommunedata 1 A/S"
    assert by_code["A2"].company == ""  # a request is not shown publicly
    assert by_code["A3"].area == "9 m²" and by_code["A3"].price_gross_ore == 1_500_000
    assert plan.counts == {"free": 3, "reserved": 1, "booked": 1}
