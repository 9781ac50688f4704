"""The transfer rules: deadline, colleague's domain, tokens rotated, e-mails, audit, chains."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conference.checkin.services import ScanResult, check_in_code, check_in_payload, ticket_payload
from conference.core.db import db, utcnow
from conference.core.models import AuditEvent
from conference.core.security import hash_token
from conference.invoicing.models import Invoice
from conference.invoicing.services import invoice_for_order
from conference.registration.models import Attendee
from conference.registration.services import cancel_attendee, find_by_manage_token
from conference.transfers.models import PlaceTransfer, TransferStatus
from conference.transfers.services import (
    InvalidTransfer,
    OutsideOrganisation,
    TransferConflict,
    TransferRefused,
    approve_transfer,
    decline_transfer,
    is_outside_organisation,
    organisation_domains,
    organiser_transfer,
    request_transfer,
    transfer_for_old_link,
)
from tests.mail.helpers import outbox
from tests.transfers.conftest import colleague


def _transfer(attendee, who=None, *, by="attendee", **kwargs):
    return request_transfer(
        attendee,
        who or colleague(),
        expected_version=attendee.ticket_version,
        requested_by=by,
        requester_email=attendee.email if by == "attendee" else attendee.order.booker_email,
        **kwargs,
    )


def test_attendee_hands_their_place_to_a_colleague(placed):
    attendee = placed.order.attendees[0]
    old_token = placed.attendee_tokens[attendee.id]
    old_code = attendee.ticket_code
    old_payload = ticket_payload(attendee)
    invoices_before = db.session.scalar(select(func.count()).select_from(Invoice))
    invoice = invoice_for_order(placed.order)
    total = invoice.total_ore

    result = _transfer(attendee)
    db.session.commit()

    db.session.refresh(attendee)
    assert not result.is_pending and result.new_token
    assert (attendee.name, attendee.email) == ("Mads Madsen", "mads@aarhus.dk")
    assert attendee.job_title == "Projektleder" and attendee.dietary == "Vegetar"
    assert attendee.ticket_version == 2
    assert attendee.ticket_code != old_code
    assert ticket_payload(attendee) != old_payload
    # The old holder's link no longer opens the place; the new holder's does.
    with pytest.raises(Exception, match="not valid"):
        find_by_manage_token(old_token)
    assert transfer_for_old_link(old_token).to_name == "Mads Madsen"
    assert find_by_manage_token(result.new_token).attendee.id == attendee.id
    # No money moves: the same invoice, no new document.
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == invoices_before
    assert invoice_for_order(placed.order).total_ore == total
    assert invoice_for_order(placed.order).buyer_name == invoice.buyer_name


def test_transfer_mails_the_new_holder_a_ticket_and_confirms_to_old_holder_and_booker(placed):
    attendee = placed.order.attendees[0]
    result = _transfer(attendee)
    db.session.commit()

    (ticket,) = outbox("transfer_ticket")
    assert ticket.to_address == "mads@aarhus.dk"
    assert f"/m/{result.new_token}" in ticket.body_text
    assert "Kollega 1" in ticket.body_text  # who handed it on
    kinds = [a["content_type"].split(";")[0] for a in ticket.attachments]
    assert kinds == ["text/calendar", "application/pdf"]
    confirmations = {m.to_address: m for m in outbox("transfer_confirmation")}
    assert set(confirmations) == {"kollega1@aarhus.dk", "hanne@aarhus.dk"}
    for message in confirmations.values():
        assert "Mads Madsen" in message.body_text
        assert message.body_html and "Mads Madsen" in message.body_html
        assert placed.order.reference in message.body_text


def test_ticket_pdf_attachment_is_rendered_from_the_snapshot(placed):
    from conference.mail.services import attachment_data

    attendee = placed.order.attendees[0]
    _transfer(attendee)
    db.session.commit()
    (ticket,) = outbox("transfer_ticket")
    pdf = attachment_data(ticket.attachments[1])
    assert pdf.startswith(b"%PDF")
    assert ticket.attachments[1]["ticket"]["name"] == "Mads Madsen"
    assert "aarhus" not in ticket.attachments[1]["ticket"]["payload"]


def test_the_booker_transfers_any_place_of_the_order(placed):
    second = placed.order.attendees[1]
    result = _transfer(second, colleague("Sofie Berg", "sofie@aarhus.dk"), by="booker")
    db.session.commit()
    assert result.transfer.requested_by == "booker"
    assert result.transfer.requester_email == "hanne@aarhus.dk"
    # The booker's own link shows the order with the new holder.
    view = find_by_manage_token(placed.booker_token)
    assert "Sofie Berg" in [a.name for a in view.visible_attendees]


def test_a_chain_of_transfers_works_and_every_old_ticket_is_refused(placed, edition):
    attendee = placed.order.attendees[0]
    payloads = [ticket_payload(attendee)]
    tokens = [placed.attendee_tokens[attendee.id]]
    for name in ("Anna", "Bo", "Cai"):
        result = _transfer(attendee, colleague(name, f"{name.lower()}@aarhus.dk"))
        db.session.commit()
        db.session.refresh(attendee)
        payloads.append(ticket_payload(attendee))
        tokens.append(result.new_token)
    assert attendee.name == "Cai" and attendee.ticket_version == 4
    for old in payloads[:-1]:
        assert check_in_payload(edition, old, actor="staff:1").result is ScanResult.TRANSFERRED
    for old in tokens[:-1]:
        assert transfer_for_old_link(old) is not None
    assert find_by_manage_token(tokens[-1]).attendee.name == "Cai"
    answer = check_in_payload(edition, payloads[-1], actor="staff:1")
    assert answer.result is ScanResult.ADMITTED and answer.attendee.name == "Cai"
    history = db.session.scalars(
        select(PlaceTransfer).where(PlaceTransfer.attendee_id == attendee.id)
    ).all()
    assert [(t.from_name, t.to_name) for t in history] == [
        ("Kollega 1", "Anna"),
        ("Anna", "Bo"),
        ("Bo", "Cai"),
    ]


def test_every_transfer_is_in_the_audit_log(placed):
    attendee = placed.order.attendees[0]
    _transfer(attendee)
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "transfer.completed"))
    assert event.actor == "attendee"
    assert event.object_type == "attendee" and event.object_id == attendee.id
    assert event.data["from_name"] == "Kollega 1" and event.data["to_name"] == "Mads Madsen"
    assert event.data["from_email"] == "kollega1@aarhus.dk"
    assert event.data["to_email"] == "mads@aarhus.dk"
    assert event.created_at is not None


def test_after_the_deadline_only_an_organiser_transfers(placed, edition):
    edition.transfer_deadline = utcnow() - timedelta(hours=1)
    db.session.commit()
    attendee = placed.order.attendees[0]
    with pytest.raises(TransferRefused, match="deadline"):
        _transfer(attendee)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PlaceTransfer)) == 0
    result = organiser_transfer(
        attendee, colleague(), expected_version=attendee.ticket_version, actor="staff:7"
    )
    db.session.commit()
    assert result.transfer.requested_by == "staff:7"
    assert db.session.get(Attendee, attendee.id).name == "Mads Madsen"


def test_colleague_details_are_checked_and_nothing_is_written(placed):
    attendee = placed.order.attendees[0]
    with pytest.raises(InvalidTransfer) as raised:
        _transfer(attendee, colleague("", "not-an-address"))
    assert set(raised.value.errors) == {"name", "email"}
    # Someone who already has a place cannot get a second one.
    with pytest.raises(InvalidTransfer) as raised:
        _transfer(attendee, colleague("Kollega 2", "KOLLEGA2@aarhus.dk"))
    assert "email" in raised.value.errors
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PlaceTransfer)) == 0
    assert db.session.get(Attendee, attendee.id).ticket_version == 1


def test_domains_of_the_organisation(placed):
    order = placed.order
    assert organisation_domains(order) == ["aarhus.dk"]
    assert not is_outside_organisation(order, "x@aarhus.dk")
    assert not is_outside_organisation(order, "x@mail.aarhus.dk")  # a subdomain is inside
    assert is_outside_organisation(order, "x@gmail.com")
    assert is_outside_organisation(order, "x@notaarhus.dk")


def test_outside_the_domain_warns_then_goes_through_when_the_edition_allows(placed, edition):
    edition.transfer_outside_domain = "allow"
    db.session.commit()
    attendee = placed.order.attendees[0]
    with pytest.raises(OutsideOrganisation) as raised:
        _transfer(attendee, colleague("Ole", "ole@gmail.com"))
    assert not raised.value.needs_approval
    assert "aarhus.dk" in raised.value.message
    db.session.rollback()
    result = _transfer(attendee, colleague("Ole", "ole@gmail.com"), confirmed_outside=True)
    db.session.commit()
    assert not result.is_pending and result.transfer.outside_domain
    assert db.session.get(Attendee, attendee.id).email == "ole@gmail.com"
    # The organisation stays Aarhus: a further hand-over to gmail.com is outside again.
    assert is_outside_organisation(placed.order, "anden@gmail.com")


def test_outside_the_domain_waits_for_approval_then_an_organiser_approves(placed, edition):
    assert edition.transfer_outside_domain == "approval"  # the default
    attendee = placed.order.attendees[0]
    old_code = attendee.ticket_code
    with pytest.raises(OutsideOrganisation) as raised:
        _transfer(attendee, colleague("Ole", "ole@gmail.com"))
    assert raised.value.needs_approval
    db.session.rollback()
    result = _transfer(attendee, colleague("Ole", "ole@gmail.com"), confirmed_outside=True)
    db.session.commit()
    assert result.is_pending and result.new_token is None
    db.session.refresh(attendee)
    # Nothing changes until it is approved: the ticket still works.
    assert attendee.name == "Kollega 1" and attendee.ticket_code == old_code
    assert outbox("transfer_ticket") == []

    approved = approve_transfer(result.transfer, actor="staff:3")
    db.session.commit()
    db.session.refresh(attendee)
    assert approved.transfer.status == TransferStatus.COMPLETED
    assert approved.transfer.decided_by == "staff:3"
    assert attendee.email == "ole@gmail.com" and attendee.ticket_code != old_code
    assert [m.to_address for m in outbox("transfer_ticket")] == ["ole@gmail.com"]
    # The requester (the old holder) is told of the outcome.
    told = {m.to_address: m for m in outbox("transfer_confirmation")}
    assert "kollega1@aarhus.dk" in told
    with pytest.raises(TransferConflict):
        approve_transfer(result.transfer, actor="staff:3")


def test_a_declined_request_changes_nothing_and_tells_the_requester(placed):
    attendee = placed.order.attendees[1]
    result = _transfer(
        attendee, colleague("Ole", "ole@gmail.com"), by="booker", confirmed_outside=True
    )
    db.session.commit()
    decline_transfer(result.transfer, actor="staff:3", reason="Ikke en kollega")
    db.session.commit()
    assert db.session.get(Attendee, attendee.id).name == "Kollega 2"
    (declined,) = outbox("transfer_declined")
    assert declined.to_address == "hanne@aarhus.dk"
    assert "Ikke en kollega" in declined.body_text and "Ole" in declined.body_text
    assert result.transfer.status == TransferStatus.DECLINED
    with pytest.raises(TransferConflict):
        decline_transfer(result.transfer, actor="staff:3")


def test_a_request_out_of_date_cannot_be_approved(placed):
    attendee = placed.order.attendees[0]
    pending = _transfer(attendee, colleague("Ole", "ole@gmail.com"), confirmed_outside=True)
    db.session.commit()
    # Meanwhile the place goes to a colleague inside the organisation.
    _transfer(db.session.get(Attendee, attendee.id))
    db.session.commit()
    db.session.refresh(pending.transfer)
    assert pending.transfer.status == TransferStatus.SUPERSEDED
    with pytest.raises(TransferConflict):
        approve_transfer(pending.transfer, actor="staff:3")
    db.session.rollback()
    assert db.session.get(Attendee, attendee.id).name == "Mads Madsen"


def test_a_stale_form_is_told_that_someone_else_was_first(placed):
    attendee = placed.order.attendees[0]
    _transfer(attendee)
    db.session.commit()
    with pytest.raises(TransferConflict, match="Someone else"):
        request_transfer(
            db.session.get(Attendee, attendee.id),
            colleague("Sofie", "sofie@aarhus.dk"),
            expected_version=1,
            requested_by="booker",
            requester_email="hanne@aarhus.dk",
        )
    db.session.rollback()
    assert db.session.get(Attendee, attendee.id).name == "Mads Madsen"


def test_a_checked_in_or_cancelled_place_cannot_be_transferred(placed, edition):
    first, second = placed.order.attendees
    assert check_in_code(edition, first.ticket_code, actor="staff:1").admitted
    db.session.commit()
    with pytest.raises(TransferRefused, match="checked in"):
        _transfer(db.session.get(Attendee, first.id))
    db.session.rollback()
    cancel_attendee(second, actor="staff:1")
    db.session.commit()
    with pytest.raises(TransferRefused, match="cancelled"):
        _transfer(db.session.get(Attendee, second.id), colleague("Sofie", "sofie@aarhus.dk"))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PlaceTransfer)) == 0


def test_the_old_manage_token_is_stored_only_hashed(placed):
    attendee = placed.order.attendees[0]
    old_token = placed.attendee_tokens[attendee.id]
    result = _transfer(attendee)
    db.session.commit()
    assert result.transfer.old_manage_token_hash == hash_token(old_token)
    stored = db.session.scalars(select(PlaceTransfer.old_manage_token_hash)).all()
    assert old_token not in stored


def test_the_confirmations_say_when_the_organiser_made_or_approved_it(edition):
    from conference.registration.services import place_order
    from tests.conftest import booking_details

    placed = place_order(edition, booking_details(edition, 2, language="en"))
    db.session.commit()
    first, second = placed.order.attendees
    organiser_transfer(first, colleague(), expected_version=1, actor="staff:9")
    pending = _transfer(second, colleague("Ole", "ole@gmail.com"), confirmed_outside=True)
    approve_transfer(pending.transfer, actor="staff:9")
    db.session.commit()
    by_old_holder = {m.to_address: m.body_text for m in outbox("transfer_confirmation")}
    assert "The organiser made this transfer." in by_old_holder["kollega1@aarhus.dk"]
    assert "The organiser has approved the transfer." in by_old_holder["kollega2@aarhus.dk"]
    assert "approved" not in by_old_holder["kollega1@aarhus.dk"]
