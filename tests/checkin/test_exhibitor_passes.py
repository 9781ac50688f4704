"""Exhibitor passes at the door and on badges: tickets like attendees', outside capacity."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import select, update

from conference.checkin.services import (
    ScanResult,
    badge_list,
    check_in_payload,
    describe,
    door_counts,
    pass_payload,
    pass_qr_svg,
    pass_ticket_pdf,
    pass_ticket_pdf_attachment,
    search_passes,
    undo_pass_check_in,
)
from conference.core.db import db
from conference.core.i18n import force_locale
from conference.core.models import AuditEvent
from conference.core.security import new_ticket_code, unsign_ticket_code
from conference.mail.services import attachment_data, attachment_filename
from conference.stands.models import ExhibitorPass, StandBooking
from tests.auth.helpers import log_in, make_staff
from tests.checkin.test_pdfs import pdf_pages, pdf_text
from tests.concurrency.conftest import race_app, run_together  # noqa: F401 - a fixture
from tests.conftest import postgres_only
from tests.invoicing.conftest import make_stand_booking


def add_pass(booking: StandBooking, name: str, email: str, job_title: str = "") -> ExhibitorPass:
    """A named member of the stand staff, as the manage page leaves one."""
    exhibitor_pass = ExhibitorPass(
        booking_id=booking.id,
        edition_id=booking.edition_id,
        name=name,
        email=email,
        job_title=job_title,
        ticket_code=new_ticket_code(),
    )
    db.session.add(exhibitor_pass)
    db.session.flush()
    return exhibitor_pass


def rename(exhibitor_pass: ExhibitorPass, name: str) -> None:
    """The exhibitor changes the name on a pass from the manage page."""
    from conference.stands.services import StaffDetails, change_staff

    change_staff(
        exhibitor_pass.booking,
        exhibitor_pass.id,
        StaffDetails(name=name, email="anders@netcompany.example"),
    )
    db.session.commit()


@pytest.fixture
def stand_staff(edition):
    """Netcompany on stand A12 with two named staff; one Aarhus attendee too."""
    booking = make_stand_booking(edition, code="A12")
    first = add_pass(booking, "Søren Ærø", "soren@netcompany.example", "Løsningsarkitekt")
    second = add_pass(booking, "Mette Holm", "mette@netcompany.example")
    db.session.commit()
    return booking, first, second


def _login(client, role: str):
    user = make_staff(f"{role}@example.dk", role)
    log_in(client, f"{role}@example.dk")
    return user


def _scan(client, edition, payload, **args):
    return client.post(
        f"/staff/e/{edition.slug}/checkin",
        query_string={"lang": "en", **args},
        data={"code": payload},
        follow_redirects=True,
    )


def _result(html: str) -> str:
    match = re.search(r'id="door-result"[^>]*data-result="([a-z_]+)"', html)
    assert match, "no answer on the page"
    return match.group(1)


# --- the ticket -------------------------------------------------------------------------


def test_the_pass_ticket_says_exhibitor_with_company_and_stand(stand_staff, edition):
    booking, first, _ = stand_staff
    pdf = pass_ticket_pdf(first, "da")
    assert pdf_pages(pdf) == 1
    text = pdf_text(pdf)
    assert "Søren Ærø" in text and "Løsningsarkitekt" in text
    assert "Netcompany A/S" in text and "Udstiller" in text and "Stand A12" in text
    assert booking.reference in text and "Digitaliseringstræf" in text
    assert "Deltager" not in text
    english = pdf_text(pass_ticket_pdf(first, "en"))
    assert "Exhibitor" in english and "Stand A12" in english and "Stand booking" in english


def test_the_pass_qr_and_mail_attachment_carry_the_signed_code(stand_staff):
    _, first, _ = stand_staff
    assert unsign_ticket_code(pass_payload(first)) == first.ticket_code
    svg = pass_qr_svg(first)
    assert "<svg" in svg and "Søren" not in svg
    attachment = pass_ticket_pdf_attachment(first, "da")
    assert attachment["content_type"] == "application/pdf"
    assert attachment_filename(attachment).endswith("-Soeren-Aeroe.pdf")
    # The outbox renders it from the snapshot, as it does an attendee's ticket.
    assert "Udstiller" in pdf_text(attachment_data(attachment))


# --- the door ---------------------------------------------------------------------------


def test_a_pass_is_admitted_once_and_refused_with_the_local_time_after(
    client, stand_staff, edition
):
    booking, first, _ = stand_staff
    staff = _login(client, "checkin")
    html = _scan(client, edition, pass_payload(first)).get_data(as_text=True)
    assert _result(html) == "admitted" and "Welcome in" in html
    assert "Søren Ærø" in html and "Netcompany A/S" in html
    assert "Exhibitor" in html and "Stand A12" in html
    db.session.expire_all()
    scanned = db.session.get(ExhibitorPass, first.id)
    assert scanned.checked_in_at is not None and scanned.checked_in_by == f"staff:{staff.id}"
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "exhibitor_pass.checked_in")
    )
    assert event.object_id == first.id and event.data["booking"] == booking.reference

    # 08:12 UTC on 4 January is 09:12 in Copenhagen.
    db.session.execute(
        update(ExhibitorPass)
        .where(ExhibitorPass.id == first.id)
        .values(checked_in_at=datetime(2027, 1, 4, 8, 12))
    )
    db.session.commit()
    again = check_in_payload(edition, pass_payload(first), actor="staff:1")
    assert again.result is ScanResult.ALREADY_CHECKED_IN
    with force_locale("en_GB"):
        assert describe(again) == "Already checked in at 09:12."
    html = _scan(client, edition, pass_payload(first)).get_data(as_text=True)
    assert _result(html) == "already_checked_in" and "09:12" in html and "Stand A12" in html


def test_a_cancelled_pass_and_a_cancelled_booking_are_refused(client, stand_staff, edition):
    booking, first, second = stand_staff
    first.status = "cancelled"
    db.session.commit()
    _login(client, "checkin")
    html = _scan(client, edition, pass_payload(first)).get_data(as_text=True)
    assert _result(html) == "cancelled" and "This exhibitor pass is cancelled." in html
    booking.status = "cancelled"
    db.session.commit()
    html = _scan(client, edition, pass_payload(second)).get_data(as_text=True)
    assert _result(html) == "cancelled" and "Mette Holm" in html
    db.session.expire_all()
    assert db.session.get(ExhibitorPass, second.id).checked_in_at is None


def test_an_old_code_after_a_name_change_is_refused_and_the_new_one_admitted(
    client, stand_staff, edition
):
    _, first, _ = stand_staff
    old_payload = pass_payload(first)
    rename(first, "Anders Berg")
    _login(client, "checkin")
    html = _scan(client, edition, old_payload).get_data(as_text=True)
    assert _result(html) == "renamed"
    assert "changed the name on this pass" in html
    html = _scan(client, edition, pass_payload(first)).get_data(as_text=True)
    assert _result(html) == "admitted" and "Anders Berg" in html


def test_search_finds_passes_by_name_company_or_stand_and_checks_them_in(
    client, stand_staff, edition
):
    _, first, second = stand_staff
    assert {p.id for p in search_passes(edition, "netcompany")} == {first.id, second.id}
    assert [p.id for p in search_passes(edition, "mette")] == [second.id]
    assert [p.id for p in search_passes(edition, "A12 søren")] == [first.id]
    assert search_passes(edition, "50%") == []
    _login(client, "checkin")
    page = client.get(f"/staff/e/{edition.slug}/checkin?lang=en&q=Netcompany")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Søren Ærø" in html and "Mette Holm" in html and "Stand A12" in html
    assert "Check in Mette Holm" in html
    # The button posts the pass's QR payload; the search is kept.
    answer = _scan(client, edition, pass_payload(second), q="Netcompany")
    html = answer.get_data(as_text=True)
    assert _result(html) == "admitted" and "Checked in at" in html
    assert "Check in Mette Holm" not in html


def test_exhibitors_are_counted_apart_and_never_take_attendee_capacity(
    client, stand_staff, placed, edition
):
    _, first, _ = stand_staff
    quota = edition.quotas[0]
    taken_before = quota.taken
    counts = door_counts(edition)
    assert (counts.arrived, counts.expected) == (0, 2)  # the Aarhus order's two places
    assert (counts.exhibitors_arrived, counts.exhibitors_expected) == (0, 2)
    check_in_payload(edition, pass_payload(first), actor="staff:1")
    db.session.commit()
    counts = door_counts(edition)
    assert (counts.arrived, counts.expected) == (0, 2)
    assert (counts.exhibitors_arrived, counts.exhibitors_expected) == (1, 2)
    db.session.refresh(quota)
    assert quota.taken == taken_before
    _login(client, "checkin")
    data = client.get(f"/staff/e/{edition.slug}/checkin/counts.json").get_json()
    assert data == {
        "arrived": 0,
        "expected": 2,
        "exhibitors_arrived": 1,
        "exhibitors_expected": 2,
    }
    html = client.get(f"/staff/e/{edition.slug}/checkin?lang=en").get_data(as_text=True)
    assert "data-exhibitors-arrived>1<" in html


def test_an_organiser_undoes_a_pass_check_in_from_the_search(client, stand_staff, edition):
    _, first, _ = stand_staff
    organiser = _login(client, "organiser")
    _scan(client, edition, pass_payload(first))
    page = client.get(f"/staff/e/{edition.slug}/checkin?lang=en&q=Søren").get_data(as_text=True)
    assert "Undo the check-in" in page
    url = f"/staff/e/{edition.slug}/exhibitor-passes/{first.id}/undo-check-in"
    refused = client.post(url, query_string={"q": "Søren", "lang": "en"}, follow_redirects=True)
    assert "Tick the box" in refused.get_data(as_text=True)
    done = client.post(
        url, query_string={"q": "Søren"}, data={"confirm": "y"}, follow_redirects=True
    )
    html = done.get_data(as_text=True)
    assert "The check-in is undone" in html and "Check in Søren Ærø" in html
    db.session.expire_all()
    assert db.session.get(ExhibitorPass, first.id).checked_in_at is None
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "exhibitor_pass.check_in_undone")
    )
    assert event.actor == f"staff:{organiser.id}" and event.data["checked_in_at"]
    again = client.post(url, data={"confirm": "y"}, follow_redirects=True)
    assert "not checked in" in again.get_data(as_text=True)
    assert check_in_payload(edition, pass_payload(first), actor="staff:1").admitted


def test_door_staff_cannot_undo_a_pass_check_in(app, client, stand_staff, edition):
    _, first, _ = stand_staff
    assert app.view_functions["checkin.undo_pass_check_in"].allowed_roles == {"organiser"}
    _login(client, "checkin")
    _scan(client, edition, pass_payload(first))
    url = f"/staff/e/{edition.slug}/exhibitor-passes/{first.id}/undo-check-in"
    assert client.post(url, data={"confirm": "y"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(ExhibitorPass, first.id).checked_in_at is not None
    with pytest.raises(Exception, match="not checked in"):
        undo_pass_check_in(db.session.get(ExhibitorPass, stand_staff[2].id), actor="staff:1")


def test_a_pass_of_another_edition_is_refused(client, stand_staff, edition):
    from conference.events.commands import create_demo_edition

    _, first, _ = stand_staff
    other = create_demo_edition(edition.starts_at.year + 1, slug="naeste-aar")
    db.session.commit()
    answer = check_in_payload(other, pass_payload(first), actor="staff:1")
    assert answer.result is ScanResult.OTHER_EDITION
    assert answer.exhibitor_pass is None  # nothing about another edition's exhibitor


# --- badges -----------------------------------------------------------------------------


def test_badges_include_passes_marked_exhibitor_with_a_filter(client, stand_staff, placed, edition):
    _, first, second = stand_staff
    second.status = "cancelled"
    db.session.commit()
    everyone = badge_list(edition)
    assert [(b.name, b.exhibitor) for b in everyone] == [
        ("Kollega 1", False),
        ("Kollega 2", False),
        ("Søren Ærø", True),
    ]
    exhibitor = everyone[-1]
    assert exhibitor.ticket_type == "Udstiller" and exhibitor.stand == "A12"
    assert exhibitor.organisation == "Netcompany A/S"
    assert [b.name for b in badge_list(edition, kind="exhibitors")] == ["Søren Ærø"]
    assert [b.name for b in badge_list(edition, kind="attendees")] == ["Kollega 1", "Kollega 2"]
    ticket_type = edition.ticket_types[0].id
    assert all(not b.exhibitor for b in badge_list(edition, ticket_type_id=ticket_type))
    assert badge_list(edition, kind="exhibitors", arrival="arrived") == []

    _login(client, "organiser")
    page = client.get(f"/staff/e/{edition.slug}/badges?lang=en&kind=exhibitors")
    assert page.status_code == 200 and "1 badge" in page.get_data(as_text=True)
    text = pdf_text(client.get(f"/staff/e/{edition.slug}/badges.pdf?kind=exhibitors").data)
    assert "Søren Ærø" in text and "Exhibitor" in text and "Stand A12" in text
    assert "Kollega" not in text and "Mette Holm" not in text
    text = pdf_text(client.get(f"/staff/e/{edition.slug}/badges.pdf").data)
    assert "Kollega 1" in text and "Søren Ærø" in text
    bad = client.get(f"/staff/e/{edition.slug}/badges.pdf?kind=vip&lang=en")
    assert bad.status_code == 422 and "Choose one of the options." in bad.get_data(as_text=True)


# --- concurrency ------------------------------------------------------------------------


@postgres_only
def test_eight_scans_of_one_pass_admit_it_once(race_app, stand_staff, edition):  # noqa: F811
    _, first, _ = stand_staff
    payload = pass_payload(first)
    edition_id = edition.id
    db.session.commit()

    def scan():
        from conference.events.models import Edition

        return check_in_payload(
            db.session.get(Edition, edition_id), payload, actor="staff:door"
        ).result

    outcomes = run_together(race_app, [scan] * 8)
    assert [o.error for o in outcomes] == [None] * 8, [o.trace for o in outcomes]
    results = sorted(o.value for o in outcomes)
    assert results.count(ScanResult.ADMITTED) == 1
    assert results.count(ScanResult.ALREADY_CHECKED_IN) == 7
    db.session.expire_all()
    assert db.session.get(ExhibitorPass, first.id).checked_in_at is not None
    audits = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "exhibitor_pass.checked_in")
    ).all()
    assert len(audits) == 1
