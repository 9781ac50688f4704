"""Tickets, the door and name badges.

A ticket's QR carries the place's ticket code signed with the app's key
(``sign_ticket_code``): it identifies the place and nothing else. Checking in
is one conditional write on the attendee row::

    UPDATE attendee SET checked_in_at = :now, checked_in_by = :who
    WHERE id = :id AND ticket_code = :code AND status = 'confirmed'
      AND checked_in_at IS NULL

A second scan finds ``checked_in_at`` set and is refused with the time of the
first. A transfer rotates ``ticket_code`` and requires ``checked_in_at IS NULL``
on the same row, so a scan racing a transfer ends in exactly one of them: the
old QR admitted (and the transfer refused), or the transfer made (and the old
QR refused as transferred).
"""

from __future__ import annotations

import base64
import enum
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import segno
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import joinedload

from conference.core.db import db, utcnow
from conference.core.errors import DomainError, NotFound
from conference.core.i18n import babel_locale
from conference.core.models import AuditEvent
from conference.core.pdf import render_pdf
from conference.core.security import hash_token, sign_ticket_code, unsign_ticket_code
from conference.core.services import record_audit
from conference.events.models import Edition, TicketType
from conference.registration.models import Attendee, AttendeeStatus, Order, OrderStatus
from conference.stands.models import (
    ExhibitorPass,
    ExhibitorPassStatus,
    Stand,
    StandBooking,
    StandBookingStatus,
)
from conference.transfers.services import close_requests, transfer_for_old_ticket_code

TICKET_STYLESHEET = "css/ticket_pdf.css"
BADGE_STYLESHEET = "css/badges_pdf.css"
MAX_SEARCH_RESULTS = 25
MAX_PAYLOAD_LENGTH = 500


class ScanResult(enum.StrEnum):
    ADMITTED = "admitted"
    ALREADY_CHECKED_IN = "already_checked_in"
    TRANSFERRED = "transferred"
    CANCELLED = "cancelled"
    NOT_CONFIRMED = "not_confirmed"
    OTHER_EDITION = "other_edition"
    #: An exhibitor pass's old code: the exhibitor has changed the name on the pass.
    RENAMED = "renamed"
    UNKNOWN = "unknown"


@dataclass
class CheckInAnswer:
    result: ScanResult
    attendee: Attendee | None = None
    #: The first check-in (ADMITTED: now; ALREADY_CHECKED_IN: the earlier one).
    checked_in_at: datetime | None = None
    #: Set instead of ``attendee`` when the QR was an exhibitor pass's.
    exhibitor_pass: ExhibitorPass | None = None

    @property
    def admitted(self) -> bool:
        return self.result is ScanResult.ADMITTED


# --- tickets --------------------------------------------------------------------


def ticket_payload(attendee: Attendee) -> str:
    """What the ticket's QR code says: the signed ticket code."""
    return sign_ticket_code(attendee.ticket_code)


def ticket_snapshot(attendee: Attendee, language: str) -> dict:
    """What a ticket PDF prints, frozen now (a mail attachment is rendered later)."""
    order = attendee.order
    return {
        "edition_id": order.edition_id,
        "language": language,
        "reference": order.reference,
        "name": attendee.name,
        "job_title": attendee.job_title,
        "organisation": order.organisation,
        "ticket_type": attendee.ticket_type.display_name(language),
        "payload": ticket_payload(attendee),
    }


def pass_payload(exhibitor_pass: ExhibitorPass) -> str:
    """What an exhibitor pass's QR says: its signed ticket code, as for attendees."""
    return sign_ticket_code(exhibitor_pass.ticket_code)


def exhibitor_label(language: str) -> str:
    """ "Udstiller" / "Exhibitor": what a pass is called on tickets, badges and at the door."""
    with force_locale(babel_locale(language)):
        return _("Exhibitor")


def pass_ticket_snapshot(exhibitor_pass: ExhibitorPass, language: str) -> dict:
    """A ticket snapshot of an exhibitor pass: the attendee ticket's fields, the company
    as the organisation, "Udstiller" as the ticket type, and the stand."""
    booking = exhibitor_pass.booking
    return {
        "edition_id": exhibitor_pass.edition_id,
        "language": language,
        "reference": booking.reference,
        "name": exhibitor_pass.name,
        "job_title": exhibitor_pass.job_title,
        "organisation": booking.company,
        "ticket_type": exhibitor_label(language),
        "payload": pass_payload(exhibitor_pass),
        "exhibitor": True,
        "stand": booking.stand.code,
    }


#: Danish letters that do not decompose to ASCII, spelt the Danish way in file names.
_DANISH_LETTERS = str.maketrans({"æ": "ae", "Æ": "Ae", "ø": "oe", "Ø": "Oe", "å": "aa", "Å": "Aa"})


def ticket_filename(snapshot: dict) -> str:
    """ "Billet-DT2FTMPC-Soeren-Aeroe.pdf": in the ticket's language, ASCII only."""
    name = unicodedata.normalize("NFKD", snapshot["name"].translate(_DANISH_LETTERS))
    safe = re.sub(r"[^A-Za-z0-9]+", "-", name.encode("ascii", "ignore").decode()).strip("-")
    with force_locale(babel_locale(snapshot["language"])):
        label = _("Ticket")
    return f"{label}-{snapshot['reference']}-{safe[:40] or label}.pdf"


def _snapshot_attachment(snapshot: dict) -> dict:
    return {
        "filename": ticket_filename(snapshot),
        "content_type": "application/pdf",
        "ticket": snapshot,
    }


def ticket_pdf_attachment(attendee: Attendee, language: str) -> dict:
    """An outbox attachment that is this ticket's PDF, rendered when the mail is built."""
    return _snapshot_attachment(ticket_snapshot(attendee, language))


def pass_ticket_pdf_attachment(exhibitor_pass: ExhibitorPass, language: str) -> dict:
    """An outbox attachment that is an exhibitor pass's ticket PDF, rendered when the
    mail is built (from the snapshot taken now, like an attendee's)."""
    return _snapshot_attachment(pass_ticket_snapshot(exhibitor_pass, language))


def _svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def qr_svg(payload: str) -> str:
    """A QR code as a scalable SVG; the one place its settings are chosen."""
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(
        out, kind="svg", scale=1, border=4, omitsize=True, nl=False
    )
    return out.getvalue().decode("utf-8")


def ticket_qr_svg(attendee: Attendee) -> str:
    """The ticket's QR code (manage page, e-mail): the signed ticket code, no personal data."""
    return qr_svg(ticket_payload(attendee))


def _qr_data_uri(payload: str) -> str:
    return _svg_data_uri(qr_svg(payload))


def ticket_pdf_from_snapshot(snapshot: dict) -> bytes:
    """The one-page ticket: event, holder, ticket type and the QR code."""
    edition = db.session.get(Edition, snapshot["edition_id"])
    if edition is None:
        raise NotFound(f"edition {snapshot['edition_id']} of a ticket does not exist")
    language = snapshot.get("language", "da")
    with force_locale(babel_locale(language)):
        html = render_template(
            "checkin/ticket_pdf.html",
            edition=edition,
            ticket=snapshot,
            qr=_qr_data_uri(snapshot["payload"]),
            language=language,
        )
    return render_pdf(html, TICKET_STYLESHEET)


def ticket_pdf(attendee: Attendee, language: str) -> bytes:
    return ticket_pdf_from_snapshot(ticket_snapshot(attendee, language))


def pass_qr_svg(exhibitor_pass: ExhibitorPass) -> str:
    """An exhibitor pass's QR code (manage page, e-mail): the signed ticket code."""
    return qr_svg(pass_payload(exhibitor_pass))


def pass_ticket_pdf(exhibitor_pass: ExhibitorPass, language: str) -> bytes:
    """The exhibitor's one-page ticket: "Udstiller", the company and the stand, and the QR."""
    return ticket_pdf_from_snapshot(pass_ticket_snapshot(exhibitor_pass, language))


# --- the door -------------------------------------------------------------------


def check_in_payload(
    edition: Edition, payload: str, *, actor: str, now: datetime | None = None
) -> CheckInAnswer:
    """Check in the place a scanned (or typed) QR payload names."""
    payload = (payload or "").strip()
    code = unsign_ticket_code(payload) if 0 < len(payload) <= MAX_PAYLOAD_LENGTH else None
    if code is None:
        return CheckInAnswer(ScanResult.UNKNOWN)
    return check_in_code(edition, code, actor=actor, now=now)


def check_in_code(
    edition: Edition, code: str, *, actor: str, now: datetime | None = None
) -> CheckInAnswer:
    now = now or utcnow()
    attendee = db.session.scalar(
        select(Attendee)
        .where(Attendee.ticket_code == code)
        .options(joinedload(Attendee.order), joinedload(Attendee.ticket_type))
    )
    if attendee is None:
        exhibitor_pass = _pass_by_code(code)
        if exhibitor_pass is not None:
            return _check_in_pass(edition, exhibitor_pass, code, actor=actor, now=now)
        transfer = transfer_for_old_ticket_code(code)
        if transfer is not None and transfer.edition_id == edition.id:
            return CheckInAnswer(ScanResult.TRANSFERRED)
        if _retired_pass_code(edition, code):
            return CheckInAnswer(ScanResult.RENAMED)
        return CheckInAnswer(ScanResult.UNKNOWN)
    order = attendee.order
    if order.edition_id != edition.id:
        return CheckInAnswer(ScanResult.OTHER_EDITION)
    refusal = _refusal(attendee, code)
    if refusal is not None:
        return refusal
    if not _mark_checked_in(attendee, code, active=AttendeeStatus.CONFIRMED, actor=actor, now=now):
        # Someone was faster: another scan of the same ticket, or a transfer.
        return _refusal(attendee, code) or CheckInAnswer(ScanResult.UNKNOWN)
    record_audit(actor, "attendee.checked_in", "attendee", attendee.id, order=order.reference)
    # A transfer request still waiting for approval can no longer be carried out.
    close_requests([attendee.id], because="place_checked_in")
    return CheckInAnswer(ScanResult.ADMITTED, attendee, now)


def _mark_checked_in(
    holder: Attendee | ExhibitorPass, code: str, *, active: str, actor: str, now: datetime
) -> bool:
    """The one conditional write that checks a place or a pass in; True when this scan did.

    It holds only while the holder still has this code, is still active and is not
    checked in yet, so of two scans at once (or a scan and a transfer) one wins.
    """
    model = type(holder)
    result = db.session.execute(
        update(model)
        .where(
            model.id == holder.id,
            model.ticket_code == code,
            model.status == active,
            model.checked_in_at.is_(None),
        )
        .values(checked_in_at=now, checked_in_by=actor)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(holder)
    return result.rowcount == 1


# --- exhibitor passes at the door -------------------------------------------------
#
# A pass is checked in like a place: one conditional write on its row,
#
#     UPDATE exhibitor_pass SET checked_in_at = :now, checked_in_by = :who
#     WHERE id = :id AND ticket_code = :code AND status = 'active'
#       AND checked_in_at IS NULL
#
# and a change of name (conference.stands.services.change_staff) rotates the
# code on the same row under ``checked_in_at IS NULL``, so a scan racing a
# rename ends in one of them. Passes sit outside capacity: nothing here touches
# a quota.

#: The audit record of a pass's change of name keeps the old code's hash under
#: this key, so the door can say why an old QR no longer works.
RETIRED_CODE_KEY = "old_code_hash"


def retired_code_data(old_code: str) -> dict:
    """What the audit record of a pass's rename adds so the door recognises the old QR:
    ``record_audit(..., **retired_code_data(old_code))`` (a hash, not the code)."""
    return {RETIRED_CODE_KEY: hash_token(old_code)}


def _pass_by_code(code: str) -> ExhibitorPass | None:
    return db.session.scalar(
        select(ExhibitorPass)
        .where(ExhibitorPass.ticket_code == code)
        .options(joinedload(ExhibitorPass.booking).joinedload(StandBooking.stand))
    )


def _retired_pass_code(edition: Edition, code: str) -> bool:
    """Whether ``code`` was a pass's code of this edition before the name on it changed."""
    pass_ids = select(ExhibitorPass.id).where(ExhibitorPass.edition_id == edition.id)
    found = db.session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.object_type == "exhibitor_pass",
            AuditEvent.object_id.in_(pass_ids),
            AuditEvent.data[RETIRED_CODE_KEY].as_string() == hash_token(code),
        )
        .limit(1)
    )
    return found is not None


def _pass_refusal(exhibitor_pass: ExhibitorPass, code: str) -> CheckInAnswer | None:
    if exhibitor_pass.ticket_code != code:
        return CheckInAnswer(ScanResult.RENAMED, exhibitor_pass=exhibitor_pass)
    booking_status = exhibitor_pass.booking.status
    if exhibitor_pass.status != ExhibitorPassStatus.ACTIVE or booking_status in (
        StandBookingStatus.CANCELLED,
        StandBookingStatus.DECLINED,
    ):
        return CheckInAnswer(ScanResult.CANCELLED, exhibitor_pass=exhibitor_pass)
    if booking_status != StandBookingStatus.CONFIRMED:
        return CheckInAnswer(ScanResult.NOT_CONFIRMED, exhibitor_pass=exhibitor_pass)
    if exhibitor_pass.checked_in_at is not None:
        return CheckInAnswer(
            ScanResult.ALREADY_CHECKED_IN,
            checked_in_at=exhibitor_pass.checked_in_at,
            exhibitor_pass=exhibitor_pass,
        )
    return None


def _check_in_pass(
    edition: Edition, exhibitor_pass: ExhibitorPass, code: str, *, actor: str, now: datetime
) -> CheckInAnswer:
    if exhibitor_pass.edition_id != edition.id:
        return CheckInAnswer(ScanResult.OTHER_EDITION)
    refusal = _pass_refusal(exhibitor_pass, code)
    if refusal is not None:
        return refusal
    if not _mark_checked_in(
        exhibitor_pass, code, active=ExhibitorPassStatus.ACTIVE, actor=actor, now=now
    ):
        # Another scan of the same pass was faster, or the name changed meanwhile.
        return _pass_refusal(exhibitor_pass, code) or CheckInAnswer(ScanResult.UNKNOWN)
    record_audit(
        actor,
        "exhibitor_pass.checked_in",
        "exhibitor_pass",
        exhibitor_pass.id,
        booking=exhibitor_pass.booking.reference,
    )
    return CheckInAnswer(ScanResult.ADMITTED, checked_in_at=now, exhibitor_pass=exhibitor_pass)


def get_door_pass(edition: Edition, pass_id) -> ExhibitorPass | None:
    """An exhibitor pass of the edition by id, for showing an answer again."""
    if not isinstance(pass_id, int):
        return None
    return db.session.scalar(
        select(ExhibitorPass)
        .where(ExhibitorPass.id == pass_id, ExhibitorPass.edition_id == edition.id)
        .options(joinedload(ExhibitorPass.booking).joinedload(StandBooking.stand))
    )


def undo_pass_check_in(exhibitor_pass: ExhibitorPass, *, actor: str) -> datetime:
    """An organiser takes back a mistaken check-in of an exhibitor pass, as for a place
    (see ``undo_check_in``); returns when it had been made."""
    return _take_back_check_in(
        exhibitor_pass,
        actor=actor,
        refusal=_("This pass is not checked in."),
        booking=exhibitor_pass.booking.reference,
    )


def _expected_passes(edition_id: int):
    return and_(
        ExhibitorPass.edition_id == edition_id,
        ExhibitorPass.status == ExhibitorPassStatus.ACTIVE,
        StandBooking.status == StandBookingStatus.CONFIRMED,
    )


def _pass_search_filter(query: str | None):
    conditions = []
    for word in (query or "").split()[:6]:
        pattern = _like(word[:100])
        conditions.append(
            or_(
                ExhibitorPass.name.ilike(pattern, escape="\\"),
                ExhibitorPass.email.ilike(pattern, escape="\\"),
                StandBooking.company.ilike(pattern, escape="\\"),
                StandBooking.reference.ilike(pattern, escape="\\"),
                Stand.code.ilike(pattern, escape="\\"),
            )
        )
    return conditions


def search_passes(edition: Edition, query: str) -> list[ExhibitorPass]:
    """Exhibitor passes of the edition matching every word (name, e-mail, company,
    booking reference, stand code); cancelled ones too, so the door can say so."""
    conditions = _pass_search_filter(query)
    if not conditions:
        return []
    return list(
        db.session.scalars(
            select(ExhibitorPass)
            .join(ExhibitorPass.booking)
            .join(StandBooking.stand)
            .where(ExhibitorPass.edition_id == edition.id, *conditions)
            .options(joinedload(ExhibitorPass.booking).joinedload(StandBooking.stand))
            .order_by(ExhibitorPass.name, ExhibitorPass.id)
            .limit(MAX_SEARCH_RESULTS)
        )
    )


def pass_is_valid(exhibitor_pass: ExhibitorPass) -> bool:
    """Active, on a confirmed booking: a pass the door admits (unless checked in)."""
    return (
        exhibitor_pass.status == ExhibitorPassStatus.ACTIVE
        and exhibitor_pass.booking.status == StandBookingStatus.CONFIRMED
    )


class NotCheckedIn(DomainError):
    """Undoing a check-in of a place that is not checked in (any more)."""


def undo_check_in(attendee: Attendee, *, actor: str) -> datetime:
    """An organiser takes back a mistaken check-in; returns when it had been made.

    One conditional write (``checked_in_at IS NOT NULL`` → NULL), so of two undos
    at once one is told that there is nothing to undo; audited with the old time.
    """
    return _take_back_check_in(
        attendee,
        actor=actor,
        refusal=_("This place is not checked in."),
        order=attendee.order.reference,
    )


def _take_back_check_in(
    holder: Attendee | ExhibitorPass, *, actor: str, refusal: str, **audit
) -> datetime:
    model = type(holder)
    db.session.refresh(holder)
    was_at, was_by = holder.checked_in_at, holder.checked_in_by
    result = db.session.execute(
        update(model)
        .where(model.id == holder.id, model.checked_in_at.is_not(None))
        .values(checked_in_at=None, checked_in_by=None)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(holder)
    if result.rowcount != 1 or was_at is None:
        raise NotCheckedIn(refusal)
    record_audit(
        actor,
        f"{model.__tablename__}.check_in_undone",
        model.__tablename__,
        holder.id,
        **audit,
        checked_in_at=was_at.isoformat(),
        checked_in_by=was_by,
    )
    return was_at


def get_door_place(edition: Edition, attendee_id) -> Attendee | None:
    """A place of the edition by id, for showing an answer again; None if there is none."""
    if not isinstance(attendee_id, int):
        return None
    attendee = db.session.scalar(
        select(Attendee)
        .join(Attendee.order)
        .where(Attendee.id == attendee_id, Order.edition_id == edition.id)
        .options(joinedload(Attendee.order), joinedload(Attendee.ticket_type))
    )
    return attendee


def _refusal(attendee: Attendee, code: str) -> CheckInAnswer | None:
    if attendee.ticket_code != code:
        return CheckInAnswer(ScanResult.TRANSFERRED)
    cancelled = attendee.order.status == OrderStatus.CANCELLED
    if attendee.status != AttendeeStatus.CONFIRMED or cancelled:
        return CheckInAnswer(ScanResult.CANCELLED, attendee)
    if attendee.order.status != OrderStatus.CONFIRMED:
        return CheckInAnswer(ScanResult.NOT_CONFIRMED, attendee)
    if attendee.checked_in_at is not None:
        return CheckInAnswer(ScanResult.ALREADY_CHECKED_IN, attendee, attendee.checked_in_at)
    return None


@dataclass(frozen=True)
class DoorCounts:
    """Attendees (the places sold) and, apart, exhibitors' stand staff."""

    arrived: int
    expected: int
    exhibitors_arrived: int = 0
    exhibitors_expected: int = 0

    @property
    def missing(self) -> int:
        return max(self.expected - self.arrived, 0)


def _expected_places(edition_id: int):
    return and_(
        Order.edition_id == edition_id,
        Order.status == OrderStatus.CONFIRMED,
        Attendee.status == AttendeeStatus.CONFIRMED,
    )


def door_counts(edition: Edition) -> DoorCounts:
    row = db.session.execute(
        select(func.count(Attendee.id), func.count(Attendee.checked_in_at))
        .join(Attendee.order)
        .where(_expected_places(edition.id))
    ).one()
    # Exhibitors are counted apart: they are not the attendees capacity was sold to.
    passes = db.session.execute(
        select(func.count(ExhibitorPass.id), func.count(ExhibitorPass.checked_in_at))
        .join(ExhibitorPass.booking)
        .where(_expected_passes(edition.id))
    ).one()
    return DoorCounts(
        arrived=int(row[1] or 0),
        expected=int(row[0] or 0),
        exhibitors_arrived=int(passes[1] or 0),
        exhibitors_expected=int(passes[0] or 0),
    )


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_filter(query: str | None):
    conditions = []
    for word in (query or "").split()[:6]:
        pattern = _like(word[:100])
        conditions.append(
            or_(
                Attendee.name.ilike(pattern, escape="\\"),
                Attendee.email.ilike(pattern, escape="\\"),
                Order.organisation.ilike(pattern, escape="\\"),
                Order.reference.ilike(pattern, escape="\\"),
            )
        )
    return conditions


def search_places(edition: Edition, query: str) -> list[Attendee]:
    """Places of the edition matching every word (name, e-mail, organisation, reference)."""
    conditions = _search_filter(query)
    if not conditions:
        return []
    return list(
        db.session.scalars(
            select(Attendee)
            .join(Attendee.order)
            .where(Order.edition_id == edition.id, *conditions)
            .options(joinedload(Attendee.order), joinedload(Attendee.ticket_type))
            .order_by(Attendee.name, Attendee.id)
            .limit(MAX_SEARCH_RESULTS)
        )
    )


# --- name badges ----------------------------------------------------------------


@dataclass(frozen=True)
class Badge:
    name: str
    job_title: str
    organisation: str
    ticket_type: str
    #: An exhibitor's stand staff: "Udstiller" and the stand on the badge.
    exhibitor: bool = False
    stand: str = ""


class BadgeKind(enum.StrEnum):
    ALL = ""
    ATTENDEES = "attendees"
    EXHIBITORS = "exhibitors"


def badge_list(
    edition: Edition,
    *,
    ticket_type_id: int | None = None,
    query: str | None = None,
    arrival: str = "",
    kind: str = BadgeKind.ALL,
    language: str = "da",
) -> list[Badge]:
    """Badges for the edition's confirmed places and active exhibitor passes, by
    organisation (company) then name.

    ``arrival``: "" (all), "arrived" or "not_arrived". ``kind``: "" (everyone),
    "attendees" or "exhibitors"; a ticket type means attendees of that type only.
    """
    badges: list[Badge] = []
    if kind != BadgeKind.EXHIBITORS:
        badges.extend(_attendee_badges(edition, ticket_type_id, query, arrival, language))
    if kind != BadgeKind.ATTENDEES and not ticket_type_id:
        passes = _pass_badges(edition, query, arrival, language)
        if passes:
            badges = sorted(
                badges + passes, key=lambda b: (b.organisation.casefold(), b.name.casefold())
            )
    return badges


def _attendee_badges(
    edition: Edition, ticket_type_id: int | None, query: str | None, arrival: str, language: str
) -> list[Badge]:
    statement = (
        select(Attendee, Order, TicketType)
        .join(Attendee.order)
        .join(Attendee.ticket_type)
        .where(_expected_places(edition.id), *_search_filter(query))
        .order_by(Order.organisation, Attendee.name, Attendee.id)
    )
    if ticket_type_id:
        statement = statement.where(Attendee.ticket_type_id == ticket_type_id)
    if arrival == "arrived":
        statement = statement.where(Attendee.checked_in_at.is_not(None))
    elif arrival == "not_arrived":
        statement = statement.where(Attendee.checked_in_at.is_(None))
    return [
        Badge(
            name=row.Attendee.name,
            job_title=row.Attendee.job_title,
            organisation=row.Order.organisation,
            ticket_type=row.TicketType.display_name(language),
        )
        for row in db.session.execute(statement)
    ]


def _pass_badges(edition: Edition, query: str | None, arrival: str, language: str) -> list[Badge]:
    statement = (
        select(ExhibitorPass, StandBooking, Stand)
        .join(ExhibitorPass.booking)
        .join(StandBooking.stand)
        .where(_expected_passes(edition.id), *_pass_search_filter(query))
        .order_by(StandBooking.company, ExhibitorPass.name, ExhibitorPass.id)
    )
    if arrival == "arrived":
        statement = statement.where(ExhibitorPass.checked_in_at.is_not(None))
    elif arrival == "not_arrived":
        statement = statement.where(ExhibitorPass.checked_in_at.is_(None))
    label = exhibitor_label(language)
    return [
        Badge(
            name=row.ExhibitorPass.name,
            job_title=row.ExhibitorPass.job_title,
            organisation=row.StandBooking.company,
            ticket_type=label,
            exhibitor=True,
            stand=row.Stand.code,
        )
        for row in db.session.execute(statement)
    ]


BADGES_PER_PAGE = 8  # 2 x 4 on A4


def badges_pdf(edition: Edition, badges: list[Badge], language: str) -> bytes:
    pages = [badges[i : i + BADGES_PER_PAGE] for i in range(0, len(badges), BADGES_PER_PAGE)]
    html = render_template(
        "checkin/badges_pdf.html",
        edition=edition,
        pages=pages or [[]],
        language=language,
    )
    return render_pdf(html, BADGE_STYLESHEET)


def describe(answer: CheckInAnswer) -> str:
    """The reason of an answer in words, for the door (text, not just colour)."""
    if answer.result is ScanResult.ADMITTED:
        return _("Checked in. Welcome!")
    if answer.result is ScanResult.RENAMED:
        return _("The exhibitor has changed the name on this pass. This ticket is no longer valid.")
    if answer.result is ScanResult.CANCELLED and answer.exhibitor_pass is not None:
        return _("This exhibitor pass is cancelled.")
    if answer.result is ScanResult.NOT_CONFIRMED and answer.exhibitor_pass is not None:
        return _("The stand booking is not confirmed yet.")
    if answer.result is ScanResult.ALREADY_CHECKED_IN:
        from flask_babel import format_time

        return _("Already checked in at %(time)s.", time=format_time(answer.checked_in_at, "short"))
    if answer.result is ScanResult.TRANSFERRED:
        return _("This ticket was transferred to another person. It is no longer valid.")
    if answer.result is ScanResult.CANCELLED:
        return _("This place is cancelled.")
    if answer.result is ScanResult.NOT_CONFIRMED:
        return _("This registration is not confirmed (not paid).")
    if answer.result is ScanResult.OTHER_EDITION:
        return _("This ticket is for another edition of the conference.")
    return _("Unknown ticket.")
