"""Erasing a past edition's personal data: every personal field, nothing of the books."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from conference.communication.models import CommunicationRecipient
from conference.core.db import db
from conference.core.errors import DomainError
from conference.core.i18n import force_locale
from conference.core.models import AuditEvent
from conference.invoicing.models import Invoice, InvoiceFile
from conference.invoicing.pdf import stored_pdf
from conference.invoicing.ubl import invoice_ubl
from conference.mail.models import OutboxMessage, OutboxStatus
from conference.privacy.services import erase_edition
from conference.registration.models import Attendee, Order, WaitingListEntry
from conference.registration.services import cancel_order
from conference.stands.models import ExhibitorPass, StandBooking
from conference.transfers.models import PlaceTransfer
from tests.auth.helpers import log_in, make_staff

PERSONAL = (
    "Anna Andersen",
    "anna@aarhus.dk",
    "Bent Berg",
    "bent@aarhus.dk",
    "Mads Madsen",
    "mads@aarhus.dk",
    "Hanne Jensen",
    "hanne@aarhus.dk",
    "+45 87 05 00 00",
    "Olga Odense",
    "Wanda Venter",
    "wanda@vejle.dk",
    "Wilma Venter",
    "Sara Holm 1",
    "sara1@kommunedata.dk",
    "Per Pas",
    "per@kommunedata.dk",
    "Vegetar",
    "HJ-4711",
)


def _all(model):
    return list(db.session.scalars(select(model).order_by(model.id)))


def _dump_of_personal_tables() -> str:
    """Every row of every table holding personal data, as text."""
    rows = []
    for model in (
        Attendee,
        Order,
        WaitingListEntry,
        PlaceTransfer,
        StandBooking,
        ExhibitorPass,
        OutboxMessage,
        CommunicationRecipient,
        AuditEvent,
    ):
        for row in _all(model):
            rows.append(
                {column.key: getattr(row, column.key) for column in model.__table__.columns}
            )
    return json.dumps(rows, default=str, ensure_ascii=False)


def _documents():
    snapshot = []
    for invoice in _all(Invoice):
        snapshot.append(
            (
                {c.key: getattr(invoice, c.key) for c in Invoice.__table__.columns},
                stored_pdf(invoice),
                invoice_ubl(invoice),
            )
        )
    db.session.commit()
    return snapshot


def test_erasure_removes_every_personal_field(edition, past):
    before = _dump_of_personal_tables()
    for value in PERSONAL:
        assert value in before, value  # the test data holds it to start with
    result = erase_edition(edition, actor="system")
    db.session.commit()
    after = _dump_of_personal_tables()
    for value in PERSONAL:
        assert value not in after, value

    for attendee in _all(Attendee):
        assert (attendee.name, attendee.email, attendee.job_title, attendee.dietary) == (
            "",
            "",
            "",
            "",
        )
        assert attendee.manage_token_hash.startswith("erased-")
    for order in _all(Order):
        assert (order.booker_name, order.booker_email, order.booker_phone) == ("", "", "")
        assert order.personreference is None
        assert order.manage_token_hash.startswith("erased-")
        assert order.organisation  # not personal: the dashboard's counts by organisation stay
    (entry,) = _all(WaitingListEntry)
    assert (entry.booker_name, entry.booker_email, entry.payload) == ("", "", {})
    (transfer,) = _all(PlaceTransfer)
    assert (transfer.from_name, transfer.from_email, transfer.to_name, transfer.to_email) == (
        "",
        "",
        "",
        "",
    )
    assert transfer.to_dietary == "" and transfer.old_manage_token_hash is None
    (booking,) = _all(StandBooking)
    assert (booking.contact_name, booking.contact_email, booking.contact_phone) == ("", "", "")
    assert booking.company == "Kommunedata 1 A/S"
    for exhibitor_pass in _all(ExhibitorPass):
        assert (exhibitor_pass.name, exhibitor_pass.email, exhibitor_pass.job_title) == ("", "", "")
    for message in _all(OutboxMessage):
        assert message.to_address == "" and message.context is None
        assert message.body_text == "" and message.body_html is None
        assert message.attachments == [] and message.status != OutboxStatus.PENDING
    for recipient in _all(CommunicationRecipient):
        assert (recipient.name, recipient.email) == ("", "")
    assert result.counts["attendees"] == 3 and result.counts["orders"] == 2
    assert result.counts["exhibitor_passes"] == 1 and result.counts["stand_bookings"] == 1
    assert result.counts["waiting_list_entries"] == 1 and result.counts["transfers"] == 1


def test_an_organisers_corrections_leave_no_name_in_the_audit_log(edition, past):
    # The registrant tools audit a correction as {"before": {...}, "after": {...}}.
    from conference.backoffice.services import (
        ContactDetails,
        PersonDetails,
        edit_attendee,
        edit_booker,
    )

    order = past.placed.order
    anna = order.attendees[0]
    edit_attendee(
        anna,
        PersonDetails(
            name="Anna Korrekt", email="anna.k@aarhus.dk", job_title="Direktør", dietary="Glutenfri"
        ),
        expected_version=anna.ticket_version,
        actor="staff:1",
    )
    edit_booker(
        order,
        ContactDetails(name="Hanne Ny", email="hanne.ny@aarhus.dk", phone="+45 11 22 33 44"),
        actor="staff:1",
    )
    db.session.commit()
    corrected = ("Anna Korrekt", "anna.k@aarhus.dk", "Glutenfri", "Hanne Ny", "+45 11 22 33 44")
    before = _dump_of_personal_tables()
    assert all(value in before for value in corrected)

    erase_edition(edition, actor="system")
    db.session.commit()

    after = _dump_of_personal_tables()
    for value in (*corrected, "Anna Andersen", "hanne@aarhus.dk"):
        assert value not in after, value
    edited = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "attendee.edited"))
    assert set(edited.data["before"]) == {"name", "email", "job_title", "dietary"}


def test_invoices_credit_notes_pdfs_and_ubl_stay_as_issued(edition, past):
    cancel_order(past.other.order, actor="staff:1", reason="Dobbelt")
    db.session.commit()
    before = _documents()
    assert len(before) == 4  # two orders, the stand and a credit note
    assert any(snapshot["kind"] == "credit_note" for snapshot, _pdf, _ubl in before)
    assert any("hanne@aarhus.dk" in str(snapshot) for snapshot, _pdf, _ubl in before)
    erase_edition(edition, actor="system")
    db.session.commit()
    after = _documents()
    assert after == before
    assert db.session.scalar(select(func.count()).select_from(InvoiceFile)) == len(before)


def test_the_audit_record_holds_counts_only_and_a_second_run_changes_nothing(edition, past):
    first = erase_edition(edition, actor="system")
    db.session.commit()
    erased_at = first.erasure.erased_at
    second = erase_edition(edition, actor="system")
    db.session.commit()
    assert second.first_time is False
    assert set(second.counts.values()) == {0}
    assert second.erasure.erased_at == erased_at
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "edition.personal_data_erased")
            .order_by(AuditEvent.id)
        )
    )
    assert len(events) == 2
    assert events[0].data["attendees"] == 3 and events[0].data["repeated"] is False
    assert events[1].data["repeated"] is True
    text = json.dumps([e.data for e in events], ensure_ascii=False)
    for value in PERSONAL:
        assert value not in text


def test_an_edition_that_has_not_ended_is_refused(edition, filled):
    try:
        with force_locale("en_GB"):
            erase_edition(edition, actor="system")
    except DomainError as error:
        assert "has not ended yet" in error.message
    else:
        raise AssertionError("a future edition was erased")
    db.session.rollback()
    assert db.session.get(Attendee, filled.placed.order.attendees[0].id).name == "Anna Andersen"


def test_the_command_erases_and_refuses_a_future_edition(app, edition, filled):
    from conference.privacy.commands import privacy_cli

    refused = app.test_cli_runner().invoke(privacy_cli, ["erase", "--edition", edition.slug])
    assert refused.exit_code != 0
    assert "has not ended yet" in refused.output or "ikke slut endnu" in refused.output
    db.session.rollback()
    assert "Anna Andersen" in _dump_of_personal_tables()
    from tests.privacy.conftest import move_to_the_past

    move_to_the_past(edition)
    result = app.test_cli_runner().invoke(privacy_cli, ["erase", "--edition", edition.slug])
    assert result.exit_code == 0, result.output
    assert "attendees: 3" in result.output
    db.session.rollback()
    assert "Anna Andersen" not in _dump_of_personal_tables()
    again = app.test_cli_runner().invoke(privacy_cli, ["erase", "--edition", edition.slug])
    assert again.exit_code == 0 and "was erased before" in again.output
    unknown = app.test_cli_runner().invoke(privacy_cli, ["erase", "--edition", "nope"])
    assert unknown.exit_code != 0


def test_the_organiser_button_needs_the_ticked_box_and_then_erases(app, client, edition, past):
    make_staff()
    log_in(client, "organiser@example.dk")
    page = client.get(f"/staff/e/{edition.slug}/privacy")
    assert page.status_code == 200 and "Not erased yet" in page.get_data(as_text=True)
    refused = client.post(f"/staff/e/{edition.slug}/privacy/erase", data={})
    assert refused.status_code == 422
    assert "Tick the box to confirm the erasure." in refused.get_data(as_text=True)
    assert "Anna Andersen" in _dump_of_personal_tables()
    done = client.post(f"/staff/e/{edition.slug}/privacy/erase", data={"confirm": "y"})
    assert done.status_code == 302
    db.session.rollback()
    assert "Anna Andersen" not in _dump_of_personal_tables()
    dashboard = client.get(f"/staff/e/{edition.slug}").get_data(as_text=True)
    assert "Personal data erased on" in dashboard
    screen = client.get(f"/staff/e/{edition.slug}/privacy").get_data(as_text=True)
    assert "Erased on" in screen and 'id="erasure-counts"' in screen


def test_the_button_refuses_a_future_edition(client, edition, filled):
    make_staff()
    log_in(client, "organiser@example.dk")
    page = client.get(f"/staff/e/{edition.slug}/privacy").get_data(as_text=True)
    assert "has not ended yet" in page and 'name="confirm"' not in page
    refused = client.post(f"/staff/e/{edition.slug}/privacy/erase", data={"confirm": "y"})
    assert refused.status_code == 409
    assert "Anna Andersen" in _dump_of_personal_tables()


def test_only_organisers_may_erase(app, edition, past):
    for role in ("accounting", "checkin"):
        make_staff(f"{role}@example.dk", role)
        client = app.test_client()
        log_in(client, f"{role}@example.dk")
        assert client.get(f"/staff/e/{edition.slug}/privacy").status_code == 403
        response = client.post(f"/staff/e/{edition.slug}/privacy/erase", data={"confirm": "y"})
        assert response.status_code == 403
    assert "Anna Andersen" in _dump_of_personal_tables()


def test_old_links_stop_working_and_say_so(client, edition, past):
    placed = past.placed
    attendee_token = next(iter(placed.attendee_tokens.values()))
    links = [
        f"/m/{placed.booker_token}",
        f"/m/{attendee_token}",
        f"/m/{placed.booker_token}/my-data.json",
        f"/w/{past.waiting_token}",
        f"/s/{past.stand_token}",
    ]
    for url in links:
        assert client.get(url + "?lang=en").status_code == 200, url
    erase_edition(edition, actor="system")
    db.session.commit()
    for url in links:
        response = client.get(url + "?lang=en")
        assert response.status_code == 410, url
        page = response.get_data(as_text=True)
        assert "the personal data of its registrations was erased" in page, url
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/m/" + "x" * 43).status_code == 404


def test_another_edition_with_the_same_people_is_left_alone(edition, past):
    from conference.events.commands import create_demo_edition
    from conference.registration.services import join_waiting_list, place_order
    from tests.conftest import booking_details

    now = past.placed.order.created_at
    next_year = create_demo_edition(edition.starts_at.year + 2, capacity=1, slug="traef-next")
    next_year.name = "Næste træf"
    next_year.name_en = "Next meeting"
    next_year.registration_opens_at = now.replace(year=now.year - 1)
    db.session.commit()
    # The same booker registers again, and someone from the old waiting list queues again.
    kept = place_order(next_year, booking_details(next_year, 1))
    db.session.commit()
    join_waiting_list(
        next_year,
        booking_details(next_year, 1, booker_name="Wanda Venter", booker_email="wanda@vejle.dk"),
    )
    db.session.commit()
    erase_edition(edition, actor="system")
    db.session.commit()
    order = db.session.get(Order, kept.order.id)
    assert order.booker_email == "hanne@aarhus.dk"
    assert [a.name for a in order.attendees] == ["Kollega 1"]
    entry = db.session.scalar(
        select(WaitingListEntry).where(WaitingListEntry.edition_id == next_year.id)
    )
    assert entry.booker_email == "wanda@vejle.dk"
    next_year_mails = [m for m in _all(OutboxMessage) if m.order_id == kept.order.id]
    assert next_year_mails
    assert all(m.to_address and m.status == OutboxStatus.PENDING for m in next_year_mails)
    old_queue, new_queue = [m for m in _all(OutboxMessage) if m.kind == "waiting_list_joined"]
    assert old_queue.to_address == "" and old_queue.body_text == ""
    assert new_queue.to_address == "wanda@vejle.dk" and new_queue.status == OutboxStatus.PENDING
    assert "Næste træf" in new_queue.subject


def test_no_one_can_be_written_to_after_erasure(client, edition, past):
    from conference.communication.services import Audience, MessageText, send_message

    erase_edition(edition, actor="system")
    db.session.commit()
    try:
        send_message(edition, Audience(), MessageText("Emne", "Tekst"), actor="staff:1")
    except DomainError:
        pass
    else:
        raise AssertionError("wrote to an erased edition")
