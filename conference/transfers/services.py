"""Handing a place to a colleague: the binding registration stays fair.

A transfer rewrites the place (``Attendee``) for its new holder with one
conditional write::

    UPDATE attendee SET name=…, ticket_code=<new>, manage_token_hash=<new>,
                        ticket_version = ticket_version + 1
    WHERE id = :id AND ticket_version = :seen AND status = 'confirmed'
      AND checked_in_at IS NULL

so of two transfers of the same place made at once exactly one wins and the
other is told, and a place checked in at the door cannot be handed on (a
check-in is a conditional write on the same row, see ``checkin.services``).
Before it the transfer takes the order-row lock an organiser's cancellation
takes (``registration.services.lock_confirmed_order``): a cancellation that has
read the places cannot have one rewritten under it. Lock order everywhere: the
order row, the place, then the transfer requests.
The old ticket code and manage link are kept on the ``PlaceTransfer`` record:
the old QR is refused at the door as "transferred" and the old link says the
place was handed on. The invoice stays with the buying organisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import joinedload

from conference.core.db import db, edition_row, utcnow
from conference.core.errors import DomainError, NotFound
from conference.core.models import AuditEvent
from conference.core.security import hash_token, new_ticket_code, new_token
from conference.core.services import record_audit
from conference.core.urls import public_url
from conference.events.models import Edition
from conference.events.services import calendar_attachment
from conference.mail.services import queue_mail
from conference.registration.models import Attendee, AttendeeStatus, Order, OrderStatus
from conference.transfers.models import OutsideDomainRule, PlaceTransfer, TransferStatus

_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+\.[^@\s]+)$")

#: Free e-mail services: anyone can have an address there, so an address at one
#: of them never shows that someone belongs to the buying organisation. They
#: are never counted as the organisation's domains, so a transfer to such an
#: address always gets the warning and the edition's rule for outside transfers.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "hotmail.dk",
        "outlook.com",
        "outlook.dk",
        "live.com",
        "live.dk",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "yahoo.com",
        "yahoo.dk",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.net",
        "mail.dk",
        "jubii.dk",
        "ofir.dk",
        "post.tele.dk",
        "webspeed.dk",
    }
)


class InvalidTransfer(DomainError):
    """The colleague's details break a rule; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())))
        self.errors = errors


class TransferRefused(DomainError):
    """The place cannot be transferred (deadline, checked in, cancelled, not confirmed)."""


class TransferConflict(DomainError):
    """Someone else transferred the place first; nothing was changed."""


class OutsideOrganisation(DomainError):
    """The colleague's e-mail domain is not the organisation's: confirm (or ask) first."""

    def __init__(self, message: str, *, needs_approval: bool, domains: list[str]) -> None:
        super().__init__(message, field="email")
        self.needs_approval = needs_approval
        self.domains = domains


@dataclass
class Colleague:
    """The new holder of a place, as typed."""

    name: str
    email: str
    job_title: str = ""
    dietary: str = ""

    def cleaned(self) -> Colleague:
        return Colleague(
            name=(self.name or "").strip(),
            email=(self.email or "").strip(),
            job_title=(self.job_title or "").strip(),
            dietary=(self.dietary or "").strip(),
        )


@dataclass
class TransferResult:
    transfer: PlaceTransfer
    #: The new holder's manage token (plain, known only now); None while pending.
    new_token: str | None = None

    @property
    def is_pending(self) -> bool:
        return self.transfer.status == TransferStatus.PENDING


# --- rules ----------------------------------------------------------------------


def email_domain(email: str) -> str:
    match = _EMAIL.match((email or "").strip().lower())
    return match.group(1) if match else ""


def is_free_mail(domain: str) -> bool:
    return domain in FREE_MAIL_DOMAINS


def organisation_domains(order: Order) -> list[str]:
    """The e-mail domains that count as the buying organisation: the booker's and those
    of the places as they were registered (a transfer never widens them), free e-mail
    services left out."""
    first_holder = {}
    for attendee_id, address in db.session.execute(
        select(PlaceTransfer.attendee_id, PlaceTransfer.from_email)
        .where(
            PlaceTransfer.order_id == order.id,
            PlaceTransfer.status == TransferStatus.COMPLETED,
        )
        .order_by(PlaceTransfer.id.desc())
    ):
        first_holder[attendee_id] = address  # the oldest transfer is read last
    domains = {email_domain(order.booker_email)}
    for attendee in order.attendees:
        domains.add(email_domain(first_holder.get(attendee.id, attendee.email)))
    domains.discard("")
    return sorted(d for d in domains if not is_free_mail(d))


def is_outside_organisation(order: Order, email: str) -> bool:
    """Whether the address is outside every domain of the organisation (subdomains count in)."""
    domain = email_domain(email)
    if is_free_mail(domain):
        return True
    for known in organisation_domains(order):
        if domain == known or domain.endswith("." + known):
            return False
    return True


def transfer_open(edition: Edition, now: datetime | None = None) -> bool:
    """Attendees and bookers may transfer until the edition's transfer deadline."""
    return (now or utcnow()) < edition.transfer_deadline


def check_colleague(attendee: Attendee, colleague: Colleague) -> dict[str, str]:
    """Field errors of a colleague's details, translated; empty when acceptable."""
    errors: dict[str, str] = {}
    if not colleague.name:
        errors["name"] = _("This field is required.")
    elif len(colleague.name) > 200:
        errors["name"] = _("This is too long (at most %(max)d characters).", max=200)
    if not colleague.email:
        errors["email"] = _("This field is required.")
    elif not email_domain(colleague.email) or len(colleague.email) > 254:
        errors["email"] = _("Enter a valid e-mail address.")
    elif same_mailbox(colleague.email, attendee.email):
        errors["email"] = _("This person already holds the place.")
    elif _holds_a_place(attendee.order.edition_id, colleague.email):
        errors["email"] = _("This person already has a place at the conference.")
    if len(colleague.job_title) > 200:
        errors["job_title"] = _("This is too long (at most %(max)d characters).", max=200)
    if len(colleague.dietary) > 300:
        errors["dietary"] = _("This is too long (at most %(max)d characters).", max=300)
    return errors


def mailbox(email: str) -> str:
    """The address lowercased with any +tag taken off the local part:
    kollega2+konf@aarhus.dk and Kollega2@aarhus.dk are the same person's mailbox."""
    local, at, domain = (email or "").strip().lower().rpartition("@")
    if not at:
        return domain
    return f"{local.partition('+')[0] or local}@{domain}"


def same_mailbox(a: str, b: str) -> bool:
    return mailbox(a) == mailbox(b)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _holds_a_place(edition_id: int, email: str) -> bool:
    """Whether the mailbox already holds a place, with or without a +tag on either side."""
    base = mailbox(email)
    local, _at, domain = base.rpartition("@")
    address = func.lower(Attendee.email)
    found = db.session.scalar(
        select(Attendee.id)
        .join(Attendee.order)
        .where(
            Order.edition_id == edition_id,
            Order.status.in_((OrderStatus.CONFIRMED, OrderStatus.PENDING_PAYMENT)),
            Attendee.status == AttendeeStatus.CONFIRMED,
            or_(
                address == base,
                address.like(f"{_escape_like(local)}+%@{_escape_like(domain)}", escape="\\"),
            ),
        )
        .limit(1)
    )
    return found is not None


def _checked_colleague(
    attendee: Attendee, colleague: Colleague, expected_version: int
) -> Colleague:
    """The colleague's cleaned details, if the place may go to them as the form saw it.

    Raises TransferRefused for a place that cannot be transferred,
    TransferConflict when the place changed since the form was opened, and
    InvalidTransfer with the field errors.
    """
    _refuse_unless_transferable(attendee)
    if attendee.ticket_version != expected_version:
        raise _conflict()
    colleague = colleague.cleaned()
    errors = check_colleague(attendee, colleague)
    if errors:
        raise InvalidTransfer(errors)
    return colleague


def _refuse_unless_transferable(attendee: Attendee) -> None:
    if attendee.status != AttendeeStatus.CONFIRMED:
        raise TransferRefused(_("This place is cancelled and cannot be transferred."))
    if attendee.order.status != OrderStatus.CONFIRMED:
        raise TransferRefused(_("Only a confirmed registration can be transferred."))
    if attendee.checked_in_at is not None:
        raise TransferRefused(_("This place has been checked in and can no longer be transferred."))


# --- transferring ---------------------------------------------------------------


def request_transfer(
    attendee: Attendee,
    colleague: Colleague,
    *,
    expected_version: int,
    requested_by: str,
    requester_email: str,
    confirmed_outside: bool = False,
    now: datetime | None = None,
) -> TransferResult:
    """An attendee (own place) or the booker (any place of the order) hands it on.

    Until the transfer deadline only. A colleague outside the organisation's
    e-mail domains raises OutsideOrganisation until ``confirmed_outside``; then
    the edition's rule either lets it through or makes it a request waiting
    for an organiser. Raises InvalidTransfer, TransferRefused or
    TransferConflict (the place changed since ``expected_version`` was read);
    in every error case nothing is written.
    """
    now = now or utcnow()
    order = attendee.order
    edition = order.edition
    if not transfer_open(edition, now):
        raise TransferRefused(_("The deadline for transferring places has passed."))
    colleague = _checked_colleague(attendee, colleague, expected_version)
    outside = is_outside_organisation(order, colleague.email)
    needs_approval = outside and edition.transfer_outside_domain == OutsideDomainRule.APPROVAL
    if outside and not confirmed_outside:
        domains = organisation_domains(order)
        if is_free_mail(email_domain(colleague.email)) or not domains:
            if not domains:
                reason = _(
                    "The registration has no e-mail addresses of %(organisation)s's own, "
                    "only of free e-mail services, so %(email)s cannot be matched to the "
                    "organisation.",
                    email=colleague.email,
                    organisation=order.organisation,
                )
            else:
                reason = _(
                    "%(email)s is an address at a free e-mail service, not one of "
                    "%(organisation)s (%(domains)s).",
                    email=colleague.email,
                    organisation=order.organisation,
                    domains=", ".join(domains),
                )
            if needs_approval:
                rule = _(
                    "A place can be handed to a colleague from the same organisation; "
                    "the organiser must approve this transfer."
                )
            else:
                rule = _("A place is meant for a colleague from the same organisation.")
            raise OutsideOrganisation(
                f"{reason} {rule}", needs_approval=needs_approval, domains=domains
            )
        if needs_approval:
            message = _(
                "%(email)s is not an address of %(organisation)s (%(domains)s). "
                "A place can be handed to a colleague from the same organisation; "
                "the organiser must approve this transfer.",
                email=colleague.email,
                organisation=order.organisation,
                domains=", ".join(domains),
            )
        else:
            message = _(
                "%(email)s is not an address of %(organisation)s (%(domains)s). "
                "A place is meant for a colleague from the same organisation.",
                email=colleague.email,
                organisation=order.organisation,
                domains=", ".join(domains),
            )
        raise OutsideOrganisation(message, needs_approval=needs_approval, domains=domains)
    if needs_approval:
        return _ask_for_approval(
            attendee,
            colleague,
            expected_version=expected_version,
            requested_by=requested_by,
            requester_email=requester_email,
        )
    return _carry_out(
        attendee,
        colleague,
        expected_version=expected_version,
        actor=requested_by,
        requested_by=requested_by,
        requester_email=requester_email,
        outside=outside,
        now=now,
    )


def organiser_transfer(
    attendee: Attendee,
    colleague: Colleague,
    *,
    expected_version: int,
    actor: str,
    now: datetime | None = None,
) -> TransferResult:
    """An organiser transfers any place at any time; no deadline, no approval."""
    colleague = _checked_colleague(attendee, colleague, expected_version)
    return _carry_out(
        attendee,
        colleague,
        expected_version=expected_version,
        actor=actor,
        requested_by=actor,
        requester_email="",
        outside=is_outside_organisation(attendee.order, colleague.email),
        now=now,
    )


def approve_transfer(
    transfer: PlaceTransfer, *, actor: str, now: datetime | None = None
) -> TransferResult:
    """Carry out a request waiting for approval, against the place as it was asked for.

    Refused (and nothing written) when the place changed since the request.
    Lock order as for every change of holder: the order row first (see
    ``_lock_order``), then the place, then the request rows.
    """
    _lock_order(transfer.order)
    db.session.refresh(transfer)
    if transfer.status != TransferStatus.PENDING:
        raise TransferConflict(_("This request has already been decided."))
    attendee = transfer.attendee
    db.session.refresh(attendee)
    colleague = Colleague(
        transfer.to_name, transfer.to_email, transfer.to_job_title, transfer.to_dietary
    )
    _refuse_unless_transferable(attendee)
    if attendee.ticket_version != transfer.from_version:
        raise TransferConflict(
            _("The place has changed since this request was made. Decline the request.")
        )
    errors = check_colleague(attendee, colleague)
    if errors:
        raise InvalidTransfer(errors)
    return _carry_out(
        attendee,
        colleague,
        expected_version=transfer.from_version,
        actor=actor,
        requested_by=transfer.requested_by,
        requester_email=transfer.requester_email,
        outside=True,
        now=now,
        pending=transfer,
    )


def decline_transfer(
    transfer: PlaceTransfer, *, actor: str, reason: str = "", now: datetime | None = None
) -> PlaceTransfer:
    """Refuse a request waiting for approval and tell the person who asked."""
    if not _decide(transfer, TransferStatus.PENDING, TransferStatus.DECLINED):
        raise TransferConflict(_("This request has already been decided."))
    transfer.decided_at = now or utcnow()
    transfer.decided_by = actor
    transfer.note = reason or None
    record_audit(
        actor,
        "transfer.declined",
        "attendee",
        transfer.attendee_id,
        transfer_id=transfer.id,
        order=transfer.order.reference,
        from_name=transfer.from_name,
        to_name=transfer.to_name,
        to_email=transfer.to_email,
        reason=reason,
    )
    order = transfer.order
    if transfer.requester_email:
        queue_mail(
            "transfer_declined",
            transfer.requester_email,
            "transfer_declined",
            order.language,
            order_id=order.id,
            order=order,
            edition=order.edition,
            transfer=transfer,
            reason=reason,
        )
    db.session.flush()
    return transfer


def _lock_order(order: Order) -> None:
    """Take the order-row lock a cancellation takes, before touching a place.

    A cancellation locks the order and then re-reads its places; a transfer that
    did not take the same lock could rewrite a place in between, and the
    cancellation would cancel the new holder's place while telling the old one.
    Refuses when the order is no longer confirmed.
    """
    from conference.registration.services import lock_confirmed_order

    if not lock_confirmed_order(order):
        db.session.refresh(order)
        raise TransferRefused(_("Only a confirmed registration can be transferred."))


def _conflict() -> TransferConflict:
    return TransferConflict(
        _(
            "Someone else has just transferred this place, so your transfer was not made. "
            "Open the newest link to see who holds it now."
        )
    )


def _decide(transfer: PlaceTransfer, old: str, new: str) -> bool:
    """Move a request's status only if it still has the old one (locks the row)."""
    result = db.session.execute(
        update(PlaceTransfer)
        .where(PlaceTransfer.id == transfer.id, PlaceTransfer.status == old)
        .values(status=new)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(transfer)
    return result.rowcount == 1


def _ask_for_approval(
    attendee: Attendee,
    colleague: Colleague,
    *,
    expected_version: int,
    requested_by: str,
    requester_email: str,
) -> TransferResult:
    order = attendee.order
    _lock_order(order)
    # What was read before the lock may be out of date (cancelled, checked in, handed on).
    db.session.refresh(attendee)
    _refuse_unless_transferable(attendee)
    if attendee.ticket_version != expected_version:
        raise _conflict()
    _supersede_requests(attendee.id)
    transfer = PlaceTransfer(
        attendee_id=attendee.id,
        order_id=order.id,
        edition_id=order.edition_id,
        status=TransferStatus.PENDING,
        requested_by=requested_by,
        requester_email=requester_email,
        from_version=expected_version,
        from_name=attendee.name,
        from_email=attendee.email,
        from_job_title=attendee.job_title,
        to_name=colleague.name,
        to_email=colleague.email,
        to_job_title=colleague.job_title,
        to_dietary=colleague.dietary,
        outside_domain=True,
        language=order.language,
    )
    db.session.add(transfer)
    db.session.flush()
    record_audit(
        requested_by,
        "transfer.requested",
        "attendee",
        attendee.id,
        transfer_id=transfer.id,
        order=order.reference,
        from_name=attendee.name,
        from_email=attendee.email,
        to_name=colleague.name,
        to_email=colleague.email,
    )
    return TransferResult(transfer=transfer)


def _supersede_requests(attendee_id: int, keep: int | None = None) -> None:
    statement = (
        update(PlaceTransfer)
        .where(
            PlaceTransfer.attendee_id == attendee_id,
            PlaceTransfer.status == TransferStatus.PENDING,
        )
        .values(status=TransferStatus.SUPERSEDED, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        statement = statement.where(PlaceTransfer.id != keep)
    db.session.execute(statement)


#: Why a request waiting for approval was closed without a decision (``note``).
CLOSED_BECAUSE = ("place_cancelled", "place_checked_in")


def close_requests(attendee_ids: list[int], *, because: str) -> int:
    """Close the requests still waiting for approval for these places, which were
    cancelled or checked in: no organiser has to decide them any more.

    They become ``superseded`` with ``because`` as the note (see ``closed_reason``)
    and drop out of the approval list. Takes the request rows after the place row,
    as a transfer does. Returns how many were closed.
    """
    if because not in CLOSED_BECAUSE:  # pragma: no cover - a programming error
        raise ValueError(because)
    if not attendee_ids:
        return 0
    waiting = db.session.scalars(
        select(PlaceTransfer).where(
            PlaceTransfer.attendee_id.in_(attendee_ids),
            PlaceTransfer.status == TransferStatus.PENDING,
        )
    ).all()
    closed = 0
    for transfer in waiting:
        result = db.session.execute(
            update(PlaceTransfer)
            .where(PlaceTransfer.id == transfer.id, PlaceTransfer.status == TransferStatus.PENDING)
            .values(
                status=TransferStatus.SUPERSEDED,
                decided_at=utcnow(),
                decided_by="system",
                note=because,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            closed += 1
            record_audit(
                "system",
                "transfer.closed",
                "attendee",
                transfer.attendee_id,
                transfer_id=transfer.id,
                because=because,
                to_name=transfer.to_name,
                to_email=transfer.to_email,
            )
    return closed


def closed_reason(transfer: PlaceTransfer) -> str:
    """Why a request was closed without a decision, in words; "" for other requests."""
    if transfer.status != TransferStatus.SUPERSEDED:
        return ""
    if transfer.note == "place_cancelled":
        return _("Closed automatically: the place was cancelled.")
    if transfer.note == "place_checked_in":
        return _("Closed automatically: the place was checked in.")
    return ""


def _carry_out(
    attendee: Attendee,
    colleague: Colleague,
    *,
    expected_version: int,
    actor: str,
    requested_by: str,
    requester_email: str,
    outside: bool,
    now: datetime | None,
    pending: PlaceTransfer | None = None,
) -> TransferResult:
    now = now or utcnow()
    order = attendee.order
    _lock_order(order)
    old = {
        "name": attendee.name,
        "email": attendee.email,
        "job_title": attendee.job_title,
        "ticket_code": attendee.ticket_code,
        "manage_token_hash": attendee.manage_token_hash,
    }
    token = new_token()
    result = db.session.execute(
        update(Attendee)
        .where(
            Attendee.id == attendee.id,
            Attendee.ticket_version == expected_version,
            Attendee.status == AttendeeStatus.CONFIRMED,
            Attendee.checked_in_at.is_(None),
        )
        .values(
            name=colleague.name,
            email=colleague.email,
            job_title=colleague.job_title,
            dietary=colleague.dietary,
            ticket_code=new_ticket_code(),
            manage_token_hash=hash_token(token),
            ticket_version=Attendee.ticket_version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(attendee)
    if result.rowcount != 1:
        _refuse_unless_transferable(attendee)
        raise _conflict()
    if attendee.ticket_code == old["ticket_code"]:  # pragma: no cover - a broken write
        raise DomainError(_("The transfer could not be made."))
    if pending is not None and not _decide(
        pending, TransferStatus.PENDING, TransferStatus.COMPLETED
    ):
        # Declined (or closed) by someone else since it was read: nothing is kept.
        raise TransferConflict(_("This request has already been decided."))

    transfer = pending or PlaceTransfer(
        attendee_id=attendee.id,
        order_id=order.id,
        edition_id=order.edition_id,
        requested_by=requested_by,
        requester_email=requester_email,
        from_version=expected_version,
        language=order.language,
    )
    transfer.status = TransferStatus.COMPLETED
    transfer.decided_at = now
    transfer.decided_by = actor
    transfer.from_name = old["name"]
    transfer.from_email = old["email"]
    transfer.from_job_title = old["job_title"]
    transfer.to_name = colleague.name
    transfer.to_email = colleague.email
    transfer.to_job_title = colleague.job_title
    transfer.to_dietary = colleague.dietary
    transfer.outside_domain = outside
    transfer.old_ticket_code = old["ticket_code"]
    transfer.old_manage_token_hash = old["manage_token_hash"]
    if pending is None:
        db.session.add(transfer)
    db.session.flush()
    _supersede_requests(attendee.id, keep=transfer.id)
    record_audit(
        actor,
        "transfer.completed",
        "attendee",
        attendee.id,
        transfer_id=transfer.id,
        order=order.reference,
        requested_by=requested_by,
        from_name=old["name"],
        from_email=old["email"],
        to_name=colleague.name,
        to_email=colleague.email,
        outside_domain=outside,
    )
    _queue_transfer_mails(attendee, transfer, token)
    return TransferResult(transfer=transfer, new_token=token)


def _queue_transfer_mails(attendee: Attendee, transfer: PlaceTransfer, token: str) -> None:
    """The new holder's ticket; a confirmation to the old holder and to the booker."""
    from conference.checkin.services import ticket_pdf_attachment

    order = attendee.order
    edition = order.edition
    language = order.language
    manage_url = public_url("registration.manage", token=token)
    message = queue_mail(
        "transfer_ticket",
        attendee.email,
        "transfer_ticket",
        language,
        order_id=order.id,
        attachments=[calendar_attachment(edition, language)],
        order=order,
        edition=edition,
        attendee=attendee,
        transfer=transfer,
        ticket_type=attendee.ticket_type,
        manage_url=manage_url,
    )
    message.attachments = [*message.attachments, ticket_pdf_attachment(attendee, language)]
    told = {attendee.email.lower()}
    recipients = [(transfer.from_email, False), (order.booker_email, True)]
    for address, to_booker in recipients:
        if address.lower() in told:
            continue
        told.add(address.lower())
        queue_mail(
            "transfer_confirmation",
            address,
            "transfer_confirmation",
            language,
            order_id=order.id,
            order=order,
            edition=edition,
            transfer=transfer,
            to_booker=to_booker,
        )


# --- reading --------------------------------------------------------------------


def transfer_for_old_link(token: str) -> PlaceTransfer | None:
    """The transfer that retired this manage link, if it is an old holder's link."""
    if not token or len(token) > 100:
        return None
    return db.session.scalar(
        select(PlaceTransfer)
        .where(
            PlaceTransfer.old_manage_token_hash == hash_token(token),
            PlaceTransfer.status == TransferStatus.COMPLETED,
        )
        .options(joinedload(PlaceTransfer.order).joinedload(Order.edition))
        .order_by(PlaceTransfer.id.desc())
        .limit(1)
    )


@dataclass
class HandedOn:
    """What an old holder's manage link opens."""

    transfer: PlaceTransfer
    #: The place was transferred again later (perhaps back to this person under a
    #: new link): the page names no later holder, it only says the link is retired.
    passed_on_again: bool


def handed_on(token: str) -> HandedOn | None:
    """The retired link's transfer and whether the place moved on again since; or None."""
    transfer = transfer_for_old_link(token)
    if transfer is None:
        return None
    later = db.session.scalar(
        select(func.count())
        .select_from(PlaceTransfer)
        .where(
            PlaceTransfer.attendee_id == transfer.attendee_id,
            PlaceTransfer.status == TransferStatus.COMPLETED,
            PlaceTransfer.id > transfer.id,
        )
    )
    return HandedOn(transfer=transfer, passed_on_again=bool(later))


def transfer_for_old_ticket_code(code: str) -> PlaceTransfer | None:
    """The transfer that retired this ticket code (a QR from before a transfer)."""
    return db.session.scalar(
        select(PlaceTransfer)
        .where(
            PlaceTransfer.old_ticket_code == code,
            PlaceTransfer.status == TransferStatus.COMPLETED,
        )
        .order_by(PlaceTransfer.id.desc())
        .limit(1)
    )


def pending_request(attendee: Attendee) -> PlaceTransfer | None:
    return db.session.scalar(
        select(PlaceTransfer)
        .where(
            PlaceTransfer.attendee_id == attendee.id,
            PlaceTransfer.status == TransferStatus.PENDING,
        )
        .order_by(PlaceTransfer.id.desc())
        .limit(1)
    )


def pending_requests(edition: Edition) -> list[PlaceTransfer]:
    """Requests waiting for an organiser's approval, oldest first."""
    return list(
        db.session.scalars(
            select(PlaceTransfer)
            .where(
                PlaceTransfer.edition_id == edition.id,
                PlaceTransfer.status == TransferStatus.PENDING,
            )
            .options(joinedload(PlaceTransfer.order), joinedload(PlaceTransfer.attendee))
            .order_by(PlaceTransfer.id)
        )
    )


def recent_transfers(edition: Edition, limit: int = 50) -> list[PlaceTransfer]:
    return list(
        db.session.scalars(
            select(PlaceTransfer)
            .where(
                PlaceTransfer.edition_id == edition.id,
                PlaceTransfer.status != TransferStatus.PENDING,
            )
            .options(joinedload(PlaceTransfer.order))
            .order_by(PlaceTransfer.id.desc())
            .limit(limit)
        )
    )


def get_request(edition: Edition, transfer_id: int) -> PlaceTransfer:
    return edition_row(PlaceTransfer, transfer_id, edition.id, _("There is no such transfer."))


def get_place(edition: Edition, attendee_id: int) -> Attendee:
    attendee = db.session.get(Attendee, attendee_id)
    if attendee is None or attendee.order.edition_id != edition.id:
        raise NotFound(_("There is no such place."))
    return attendee


@dataclass
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    data: dict


#: Cancellations are audited under the order, with the ids of the places they cancelled.
_CANCELLATIONS = ("order.cancelled", "attendee.cancelled")


def place_history(attendee: Attendee) -> list[HistoryEntry]:
    """Everything the audit log holds about a place: transfers, requests, check-ins
    (and their undoing) under the place, and the cancellations of the order that
    cancelled this place."""
    events = db.session.scalars(
        select(AuditEvent)
        .where(
            or_(
                (AuditEvent.object_type == "attendee") & (AuditEvent.object_id == attendee.id),
                (AuditEvent.object_type == "order")
                & (AuditEvent.object_id == attendee.order_id)
                & AuditEvent.action.in_(_CANCELLATIONS),
            )
        )
        .order_by(AuditEvent.id)
    )
    history = []
    for event in events:
        data = dict(event.data or {})
        if event.object_type == "order":
            if attendee.id not in (data.get("attendees") or []):
                continue
            action = "attendee.cancelled"
        else:
            action = event.action
        history.append(HistoryEntry(event.created_at, event.actor, action, data))
    return history


def history_label(action: str) -> str:
    """What a history entry did, in words (the audit action itself for anything else)."""
    labels = {
        "transfer.completed": _("Transferred"),
        "transfer.requested": _("Transfer requested"),
        "transfer.declined": _("Transfer request declined"),
        "transfer.closed": _("Transfer request closed"),
        "attendee.checked_in": _("Checked in"),
        "attendee.check_in_undone": _("Check-in undone"),
        "attendee.cancelled": _("Cancelled"),
    }
    return labels.get(action, action)


def place_transfers(attendee: Attendee) -> list[PlaceTransfer]:
    return list(
        db.session.scalars(
            select(PlaceTransfer)
            .where(PlaceTransfer.attendee_id == attendee.id)
            .order_by(PlaceTransfer.id)
        )
    )


def set_outside_domain_rule(edition: Edition, rule: str, *, actor: str) -> bool:
    """Change the edition's rule for transfers outside the organisation; True if changed."""
    rule = OutsideDomainRule(rule)
    if edition.transfer_outside_domain == rule:
        return False
    old = edition.transfer_outside_domain
    edition.transfer_outside_domain = rule.value
    record_audit(actor, "edition.transfer_rule", "edition", edition.id, old=old, new=rule.value)
    db.session.flush()
    return True


def actor_label(actor: str, staff_names: dict[int, str] | None = None) -> str:
    """Who did it, for the history: the attendee, the booker or which organiser."""
    if actor == "attendee":
        return _("the participant")
    if actor == "booker":
        return _("the booker")
    if actor.startswith("staff:"):
        staff_id = actor.partition(":")[2]
        name = (staff_names or {}).get(int(staff_id)) if staff_id.isdigit() else None
        return _("organiser %(name)s", name=name or f"#{staff_id}")
    return actor


def staff_names(actors: list[str]) -> dict[int, str]:
    from conference.auth.models import StaffUser

    ids = {int(a.partition(":")[2]) for a in actors if a.startswith("staff:") and a[6:].isdigit()}
    if not ids:
        return {}
    users = db.session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))
    return {u.id: u.name or u.email for u in users}
