"""Placing binding orders, first come first served, and running the waiting list.

A group is all-or-nothing: its places are claimed with one conditional write
(``claim_places``) in the order's transaction, so either every colleague gets
a place or nothing is written. Orders are never cancelled by attendees.
"""

from __future__ import annotations

import enum
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import (
    DateTime,
    Integer,
    String,
    bindparam,
    column,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from stdnum import ean as gs1
from stdnum.dk import cvr as dk_cvr

from conference.checkin.services import ticket_pdf_attachment
from conference.core.db import db, insert_new, utcnow
from conference.core.errors import DomainError, NotEnoughPlaces, NotFound, RegistrationClosed
from conference.core.models import AuditEvent
from conference.core.money import vat_of
from conference.core.security import hash_token, new_ticket_code, new_token
from conference.core.services import new_audit_event, record_audit, write_audit_events
from conference.core.urls import public_url
from conference.events.models import Edition, TicketType
from conference.events.services import (
    RegistrationState,
    calendar_attachment,
    claim_places,
    copenhagen_date,
    find_access_code,
    give_back_code_use,
    lock_quota,
    places_left,
    registration_state,
    release_places,
    take_code_use,
    unit_price_now,
    window_state,
)
from conference.invoicing.models import DocumentKind, Invoice
from conference.invoicing.services import (
    credit_lines,
    draft_invoice,
    invoice_filename,
    issue_credit_note,
    issue_drafted_invoice,
    issue_invoice,
    place_invoice,
    record_payment,
)
from conference.mail.models import OutboxMessage
from conference.mail.services import (
    add_mails,
    invoice_attachment,
    live_row,
    order_invoice_attachment,
    prepare_deferred_mail,
    queue_mail,
)
from conference.registration.models import (
    Attendee,
    AttendeeStatus,
    Order,
    OrderStatus,
    OrganisationType,
    PaymentMethod,
    PaymentStatus,
    WaitingListEntry,
    WaitingStatus,
)

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class InvalidBooking(DomainError):
    """The submitted details break a rule; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())))
        self.errors = errors


@dataclass
class AttendeeDetails:
    name: str
    email: str
    job_title: str = ""
    dietary: str = ""


@dataclass
class BookingDetails:
    """Everything a booker submits; plain values, no request objects."""

    ticket_type_id: int
    booker_name: str
    booker_email: str
    booker_phone: str
    organisation: str
    organisation_type: str
    invoice_organisation: str
    invoice_address: str
    invoice_postcode: str
    invoice_city: str
    attendees: list[AttendeeDetails]
    cvr: str | None = None
    ean: str | None = None
    personreference: str | None = None
    buyer_order_number: str | None = None
    accounting_cost: str | None = None
    access_code: str | None = None
    language: str = "da"
    #: "invoice" or "card" (Stripe Checkout; only when card payments are set up).
    payment_method: str = "invoice"

    def to_payload(self) -> dict:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict) -> BookingDetails:
        data = dict(payload)
        data["attendees"] = [AttendeeDetails(**a) for a in data.get("attendees", [])]
        return cls(**data)


@dataclass
class PlacedOrder:
    """A new order and the plain manage tokens, known only now (we store hashes)."""

    order: Order
    booker_token: str
    attendee_tokens: dict[int, str] = field(default_factory=dict)
    audit_event: AuditEvent | None = None
    #: (access code id, places) when the order used an access code's uses.
    code_use: tuple[int, int] | None = None


# --- validation -----------------------------------------------------------------


def normalise_cvr(value: str) -> str:
    """A valid Danish CVR number as 8 digits; ValueError if it is not one."""
    try:
        return dk_cvr.validate(value)
    except Exception as error:
        raise ValueError(str(error)) from None


def normalise_ean(value: str) -> str:
    """A valid EAN location number (GLN, 13 digits with GS1 check digit)."""
    compact = gs1.compact(value)
    if len(compact) != 13:
        raise ValueError("an EAN location number has 13 digits")
    try:
        return gs1.validate(compact)
    except Exception as error:
        raise ValueError(str(error)) from None


def check_booking(edition: Edition, details: BookingDetails) -> dict[str, str]:
    """Field errors of a booking, translated; empty when it may be placed.

    Normalises CVR and EAN in place (spaces removed) when they are valid.
    """
    errors: dict[str, str] = {}
    required = {
        "booker_name": details.booker_name,
        "booker_email": details.booker_email,
        "booker_phone": details.booker_phone,
        "organisation": details.organisation,
        "invoice_organisation": details.invoice_organisation,
        "invoice_address": details.invoice_address,
        "invoice_postcode": details.invoice_postcode,
        "invoice_city": details.invoice_city,
    }
    for name, value in required.items():
        if not (value or "").strip():
            errors[name] = _("This field is required.")
    try:
        organisation_type = OrganisationType(details.organisation_type)
    except ValueError:
        errors["organisation_type"] = _("Choose the type of organisation.")
        organisation_type = None

    if details.cvr:
        try:
            details.cvr = normalise_cvr(details.cvr)
        except ValueError:
            errors["cvr"] = _("This is not a valid CVR number (8 digits).")
    elif organisation_type is OrganisationType.PRIVATE:
        errors["cvr"] = _("Companies must give their CVR number.")

    if details.ean:
        try:
            details.ean = normalise_ean(details.ean)
        except ValueError:
            errors["ean"] = _(
                "This is not a valid EAN location number (13 digits with a check digit)."
            )
    elif organisation_type is not None and organisation_type.is_public:
        errors["ean"] = _("Public bodies must give an EAN location number for the e-invoice.")

    if details.payment_method not in (PaymentMethod.INVOICE, PaymentMethod.CARD) or (
        details.payment_method == PaymentMethod.CARD
        and not current_app.config.get("STRIPE_SECRET_KEY")
    ):
        errors["payment_method"] = _("Choose how to pay.")

    count = len(details.attendees)
    if count < 1:
        errors["attendees"] = _("Register at least one participant.")
    elif count > edition.max_group_size:
        errors["attendees"] = _(
            "One registration can hold at most %(max)d participants.", max=edition.max_group_size
        )
    seen: dict[str, int] = {}
    for index, attendee in enumerate(details.attendees):
        if not attendee.name.strip():
            errors[f"attendees-{index}-name"] = _("This field is required.")
        email = attendee.email.strip().lower()
        if not email:
            errors[f"attendees-{index}-email"] = _("This field is required.")
        elif email in seen:
            errors[f"attendees-{index}-email"] = _(
                "This e-mail address is already used for participant %(number)d.",
                number=seen[email] + 1,
            )
        else:
            seen[email] = index
    return errors


def resolve_ticket_type(edition: Edition, details: BookingDetails) -> TicketType:
    """The ticket type asked for, if the booker may have it.

    Hidden types need an access code for them; a code typed for a public type
    must be one of its codes too. A code without uses enough left for the group
    is refused here already; ``place_order`` takes the uses for certain.
    """
    ticket_type = db.session.get(TicketType, details.ticket_type_id)
    if ticket_type is None or ticket_type.edition_id != edition.id:
        raise InvalidBooking({"ticket_type_id": _("Choose a ticket type.")})
    if (details.access_code or "").strip() or not ticket_type.is_public:
        code = find_access_code(edition, details.access_code)
        if code is None or code.ticket_type_id != ticket_type.id:
            raise InvalidBooking({"access_code": _("The access code is not valid.")})
        if code.used + len(details.attendees) > code.max_uses:
            raise InvalidBooking({"access_code": _code_uses_message(code.uses_left)})
    return ticket_type


def _code_uses_message(left: int) -> str:
    if left <= 0:
        return _("This access code has been used up.")
    return ngettext(
        "This access code can be used for only %(num)d more place.",
        "This access code can be used for only %(num)d more places.",
        left,
    )


def _use_access_code(
    edition: Edition, placed: PlacedOrder, access_code: str | None, count: int
) -> None:
    """Take the uses of the booking's access code, if it has one, in the order's
    transaction; when they are gone, take the order back and refuse the booking."""
    code = find_access_code(edition, access_code) if access_code else None
    if code is None:
        return
    if not take_code_use(code.id, count):
        _take_back(placed)
        db.session.refresh(code)
        raise InvalidBooking({"access_code": _code_uses_message(code.uses_left)})
    placed.code_use = (code.id, count)
    # Recorded on the order so the uses come back with its places; written now,
    # before the claim takes the quota's lock.
    placed.order.access_code_id = code.id
    db.session.flush()


# --- the registration page at a glance -------------------------------------------------


@dataclass(frozen=True)
class RegistrationGlance:
    """What the registration page must know fresh on every request, from one small read.

    ``first_public_left``: free places for the first public ticket type (what the
    form shows); ``left_in_all``: free places in all of the edition's quotas, 0
    when no ticket type at all could be booked.
    """

    edition_id: int
    name: str
    name_en: str | None
    opens_at: datetime
    closes_at: datetime
    few_places_threshold: int
    first_public_left: int
    left_in_all: int

    def state(self, now: datetime | None = None) -> RegistrationState:
        return window_state(self.opens_at, self.closes_at, now)

    def display_name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name


# The most participants one registration can hold, whatever an edition allows.
MAX_GROUP_SIZE = 20


# Plain SQL (the same on SQLite and PostgreSQL): it runs for nearly every request
# of a rush, and a statement built from ORM constructs spends more time on its
# cache key at each execution than the database spends answering it.
_GLANCE = text(
    """
    SELECT e.id, e.name, e.name_en, e.registration_opens_at, e.registration_closes_at,
           e.few_places_threshold,
           coalesce((SELECT CASE WHEN q.capacity > q.taken THEN q.capacity - q.taken ELSE 0 END
                     FROM ticket_type t JOIN quota q ON q.id = t.quota_id
                     WHERE t.edition_id = e.id AND t.is_public = :public
                     ORDER BY t.sort_order, t.id LIMIT 1), 0),
           coalesce((SELECT sum(CASE WHEN q.capacity > q.taken
                                     THEN q.capacity - q.taken ELSE 0 END)
                     FROM quota q WHERE q.edition_id = e.id), 0)
    FROM edition e
    WHERE e.slug = :slug
    """
).columns(
    column("id", Integer),
    column("name", String),
    column("name_en", String),
    column("registration_opens_at", DateTime),
    column("registration_closes_at", DateTime),
    column("few_places_threshold", Integer),
    column("first_public_left", Integer),
    column("left_in_all", Integer),
)


def registration_glance(slug: str, *, max_age: float = 0.0) -> RegistrationGlance | None:
    """The edition's registration window and free places, without loading the edition.

    Read outside the request's transaction: one statement is consistent on its
    own, and most requests of a rush read nothing else, so they are spared the
    BEGIN and ROLLBACK round trips. What it says about free places is only
    ever used to refuse early or to show the page; the claim alone takes places.

    ``max_age``: a glance read by this process at most that many seconds ago will
    do. Only for showing a page (the form says "12 places left" a moment late);
    a posted booking goes by ``booking_glance``.
    """
    if max_age > 0:
        kept = _kept_glance(slug)
        if kept is not None:
            return kept[1]
    return _read_glance(slug, keep_for=max_age)


def booking_glance(slug: str, *, max_age: float) -> RegistrationGlance | None:
    """The glance a posted booking is decided by.

    One this process read at most ``max_age`` seconds ago if it found no place
    at all (the refusal it leads to takes nothing, and a place that came free
    within that moment is refused as it would have been a moment earlier), or
    if it found more than a few places (``plenty_left``): the booking then goes
    on to the claim, which alone takes places, and the registration window is
    checked again on the edition itself. When few places are left, a fresh
    read (kept for the requests that follow), so that a moment-old answer does
    not send bookings to a claim that is bound to fail.
    """
    kept = _kept_glance(slug) if max_age > 0 else None
    if kept is not None and kept[1] is not None:
        glance = kept[1]
        if glance.left_in_all == 0 or plenty_left(glance):
            return glance
    return _read_glance(slug, keep_for=max_age)


def plenty_left(glance: RegistrationGlance) -> bool:
    """More places free than "few" (the edition's threshold) and than the largest group."""
    return glance.left_in_all > max(glance.few_places_threshold, MAX_GROUP_SIZE)


def forget_glance(slug: str) -> None:
    """Drop what this process read about the edition's places: the next request reads afresh."""
    _kept_glances().pop(slug, None)


def _kept_glances() -> dict[str, tuple[float, RegistrationGlance | None]]:
    return current_app.extensions.setdefault("registration_glances", {})


def _kept_glance(slug: str) -> tuple[float, RegistrationGlance | None] | None:
    """(until when, the glance) as this process last read it, if not yet too old."""
    kept = _kept_glances().get(slug)
    return kept if kept is not None and kept[0] > time.monotonic() else None


def _read_glance(slug: str, *, keep_for: float) -> RegistrationGlance | None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        row = connection.execute(_GLANCE, {"slug": slug, "public": True}).first()
    glance = (
        None
        if row is None
        else RegistrationGlance(*row[:6], max(int(row[6]), 0), max(int(row[7]), 0))
    )
    if keep_for > 0:
        _kept_glances()[slug] = (time.monotonic() + keep_for, glance)
    return glance


# --- placing orders -----------------------------------------------------------------


def _admissible_ticket_type(
    edition: Edition, details: BookingDetails, now: datetime | None, *, any_time: bool = False
) -> TicketType:
    """The ticket type of a booking that may be made now; raises the refusal otherwise.

    ``any_time``: an organiser registering on someone's behalf, before the public
    opening or after the closing.
    """
    if not any_time and registration_state(edition, now) is not RegistrationState.OPEN:
        raise RegistrationClosed(_("Registration is not open."))
    errors = check_booking(edition, details)
    if errors:
        raise InvalidBooking(errors)
    return resolve_ticket_type(edition, details)


def place_order(
    edition: Edition,
    details: BookingDetails,
    *,
    now: datetime | None = None,
    actor: str = "booker",
    free_seen: int | None = None,
    any_time: bool = False,
) -> PlacedOrder:
    """Claim places for the whole group and write a binding order.

    Paying by invoice, the order is confirmed at once and its invoice issued
    (and attached to the confirmation). Paying by card, the places are held
    until ``hold_expires_at`` while the booker pays in Stripe Checkout; the
    order is confirmed by ``confirm_card_payment``. Raises
    RegistrationClosed, InvalidBooking or NotEnoughPlaces (with the number
    left); in every error case nothing is written. ``free_seen``: the
    free places in all the edition's quotas as the caller has just read them
    (``booking_glance``); enough of them spares the
    early read, which only ever refuses (the claim alone decides).
    ``any_time``: staff registering on someone's behalf outside the public
    registration window; the places are claimed the same way.
    """
    ticket_type = _admissible_ticket_type(edition, details, now, any_time=any_time)
    count = len(details.attendees)
    # Once the places are gone most posts of a rush ask for what is not there:
    # refuse those from a plain read, without queueing for the quota row's lock.
    # Only the conditional write below ever takes places, so this cannot oversell.
    if free_seen is None or free_seen < count:
        left = places_left(ticket_type.quota_id)
        if left < count:
            raise NotEnoughPlaces(not_enough_places_message(count, left), places_left=left)
    # The claim locks the quota row until commit, and every other booker of the
    # rush queues behind it: everything else is done first (the order, its
    # audit record and its e-mails written, the invoice drafted), so that from
    # the claim to the commit only the invoice's number, the invoice and its
    # audit record are written. Taking the order back when the claim is lost is
    # rare (only for the last places) and costs less than a savepoint around
    # every order.
    draft = _draft_order(edition, ticket_type, details, now=now)
    placed = _save_order(draft, actor=actor)
    invoice = None
    if placed.order.status == OrderStatus.CONFIRMED:
        invoice = _draft_invoice_of(placed.order, now)
        _send_order_mails(draft, invoice)
    _use_access_code(edition, placed, details.access_code, count)
    if not claim_places(ticket_type.quota_id, count):
        _take_back(placed)
        # A kept glance let this booking come this far (see booking_glance); it
        # is out of date, and the bookings after this one should not trust it.
        forget_glance(edition.slug)
        left = places_left(ticket_type.quota_id)
        raise NotEnoughPlaces(not_enough_places_message(count, left), places_left=left)
    _record_placed_order(placed, invoice)
    return placed


def _draft_invoice_of(order: Order, now: datetime | None) -> Invoice | None:
    # Free orders (speakers, press) get no invoice: nothing was sold.
    return draft_invoice(order, now=now) if order.total_net_ore else None


def _record_placed_order(placed: PlacedOrder, invoice: Invoice | None) -> None:
    """Write the order's audit record, and issue its invoice (if it has one) with it.

    Both audit records go in one INSERT: this runs while the places are locked.
    """
    if invoice is not None:
        issue_drafted_invoice(invoice, audit_events=[placed.audit_event])
    else:
        write_audit_events([placed.audit_event])


def _take_back(placed: PlacedOrder) -> None:
    """Delete an order written for a claim that was then lost: nothing of it stays.

    Its audit record was not written yet (see ``_record_placed_order``).
    """
    order = placed.order
    if placed.code_use is not None:
        give_back_code_use(*placed.code_use)
    attendee, registration_order = Attendee.__table__, Order.__table__
    outbox = OutboxMessage.__table__
    db.session.execute(delete(outbox).where(outbox.c.order_id == order.id))
    db.session.execute(delete(attendee).where(attendee.c.order_id == order.id))
    db.session.execute(delete(registration_order).where(registration_order.c.id == order.id))
    for obj in (*order.attendees, order):
        db.session.expunge(obj)


def not_enough_places_message(asked: int, left: int) -> str:
    if left == 0:
        return _("The conference is fully booked. You can join the waiting list.")
    return ngettext(
        "Only %(num)d place is left, so your group of %(asked)d cannot be registered. "
        "Register fewer colleagues or join the waiting list.",
        "Only %(num)d places are left, so your group of %(asked)d cannot be registered. "
        "Register fewer colleagues or join the waiting list.",
        left,
        asked=asked,
    )


def _new_reference() -> str:
    return "DT" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


@dataclass
class _DraftOrder:
    """An order and its rendered e-mails, not in the session yet."""

    placed: PlacedOrder
    attendee_tokens: list[str]
    mails: list[OutboxMessage]


def _write_order(
    edition: Edition, ticket_type: TicketType, details: BookingDetails, *, actor: str
) -> PlacedOrder:
    """Write a confirmed invoice order for places already claimed, invoice it, queue its e-mails."""
    details.payment_method = PaymentMethod.INVOICE
    draft = _draft_order(edition, ticket_type, details)
    placed = _save_order(draft, actor=actor)
    invoice = _draft_invoice_of(placed.order, None)
    _send_order_mails(draft, invoice)
    _record_placed_order(placed, invoice)
    return placed


def _draft_order(
    edition: Edition,
    ticket_type: TicketType,
    details: BookingDetails,
    *,
    now: datetime | None = None,
) -> _DraftOrder:
    """The order with its attendees and rendered e-mails; nothing touches the database.

    A card order is drafted without e-mails: they go out once it is paid.
    """
    booker_token = new_token()
    # The order is placed at ``now``, as its invoice is issued then.
    placed_at = now or utcnow()
    unit_net = unit_price_now(edition, ticket_type, details.access_code, now)
    count = len(details.attendees)
    total_net = unit_net * count
    by_card = details.payment_method == PaymentMethod.CARD and total_net > 0
    if by_card:
        status, payment_status = OrderStatus.PENDING_PAYMENT, PaymentStatus.AWAITING_PAYMENT
        hold_expires_at = placed_at + timedelta(minutes=current_app.config["HOLD_MINUTES"])
    else:
        status = OrderStatus.CONFIRMED
        payment_status = PaymentStatus.INVOICED if total_net else PaymentStatus.FREE
        hold_expires_at = None
    order = Order(
        status=status,
        payment_method=PaymentMethod.CARD if by_card else PaymentMethod.INVOICE,
        payment_status=payment_status,
        hold_expires_at=hold_expires_at,
        reference=_new_reference(),
        created_at=placed_at,
        edition_id=edition.id,
        language=details.language,
        manage_token_hash=hash_token(booker_token),
        booker_name=details.booker_name.strip(),
        booker_email=details.booker_email.strip(),
        booker_phone=details.booker_phone.strip(),
        organisation=details.organisation.strip(),
        organisation_type=details.organisation_type,
        invoice_organisation=details.invoice_organisation.strip(),
        invoice_address=details.invoice_address.strip(),
        invoice_postcode=details.invoice_postcode.strip(),
        invoice_city=details.invoice_city.strip(),
        cvr=details.cvr or None,
        ean=details.ean or None,
        personreference=(details.personreference or "").strip() or None,
        buyer_order_number=(details.buyer_order_number or "").strip() or None,
        accounting_cost=(details.accounting_cost or "").strip() or None,
        # VAT is computed on the total, not per line, as on the invoice.
        total_net_ore=unit_net * count,
        total_vat_ore=vat_of(unit_net * count, ticket_type.vat_percent),
    )
    order.edition = edition
    tokens: list[str] = []
    for person in details.attendees:
        token = new_token()
        tokens.append(token)
        order.attendees.append(
            Attendee(
                ticket_type=ticket_type,
                name=person.name.strip(),
                email=person.email.strip(),
                job_title=person.job_title.strip(),
                dietary=person.dietary.strip(),
                unit_price_net_ore=unit_net,
                vat_percent=ticket_type.vat_percent,
                manage_token_hash=hash_token(token),
                ticket_code=new_ticket_code(),
                created_at=placed_at,
            )
        )
    placed = PlacedOrder(order=order, booker_token=booker_token)
    mails = [] if by_card else _order_mails(placed, tokens, ticket_type)
    return _DraftOrder(placed=placed, attendee_tokens=tokens, mails=mails)


def _save_order(draft: _DraftOrder, *, actor: str) -> PlacedOrder:
    """Write a drafted order and its attendees (one INSERT each); draft its audit record.

    Core INSERTs rather than the unit of work, which took longer than the
    writes; the order and its attendees are then in the session as if loaded.
    """
    placed = draft.placed
    order = placed.order
    insert_new([order])
    for attendee in order.attendees:
        attendee.order_id = order.id
    insert_new(order.attendees)
    db.session.add(order)  # and its attendees
    for attendee, token in zip(order.attendees, draft.attendee_tokens, strict=True):
        placed.attendee_tokens[attendee.id] = token
    # Written with the invoice once the places are claimed (_record_placed_order).
    placed.audit_event = new_audit_event(
        actor,
        "order.placed",
        "order",
        order.id,
        reference=order.reference,
        places=len(order.attendees),
        payment_method=order.payment_method,
    )
    return placed


def _send_order_mails(draft: _DraftOrder, invoice: Invoice | None) -> None:
    """Queue a confirmed order's e-mails; the confirmation carries its invoice, if it has one.

    Queued before the invoice is numbered: the attachment names the order's
    invoice, which the outbox worker finds, renders and attaches when it sends.
    """
    order = draft.placed.order
    for message in draft.mails:
        message.order_id = order.id
        if invoice is not None and message.kind == "order_confirmation":
            message.attachments = [
                *message.attachments,
                order_invoice_attachment(order.id, invoice_filename(invoice)),
            ]
    add_mails(draft.mails)


def _order_mails(
    placed: PlacedOrder, attendee_tokens: list[str], ticket_type: TicketType
) -> list[OutboxMessage]:
    """The confirmation to the booker and a ticket to each attendee, rendered by the worker.

    What they say about the order and its people is frozen now; the edition's
    texts and the ticket types' names are read when they are rendered.
    """
    order = placed.order
    language = order.language
    snapshot = _order_snapshot(order)
    shared = {
        "order": snapshot,
        "edition": live_row(Edition, order.edition_id),
        "ticket_type": live_row(TicketType, ticket_type.id),
    }
    mails = [
        prepare_deferred_mail(
            "order_confirmation",
            order.booker_email,
            "order_confirmation",
            language,
            context={
                **shared,
                "manage_url": public_url("registration.manage", token=placed.booker_token),
            },
        )
    ]
    calendar = calendar_attachment(order.edition, language)
    for attendee, seen, token in zip(
        order.attendees, snapshot["attendees"], attendee_tokens, strict=True
    ):
        mails.append(
            prepare_deferred_mail(
                "ticket",
                attendee.email,
                "ticket",
                language,
                # The ticket PDF with its QR code is rendered by the worker too.
                attachments=[calendar],
                context={
                    **shared,
                    "attendee": seen,
                    "manage_url": public_url("registration.manage", token=token),
                },
            )
        )
        mails[-1].attachments.append(ticket_pdf_attachment(attendee, language))
    return mails


def _order_mail_fields(order: Order) -> dict:
    """The order's own fields a confirmation shows, first sent or sent again."""
    return {
        "reference": order.reference,
        "booker_name": order.booker_name,
        "booker_email": order.booker_email,
        "organisation": order.organisation,
        "invoice_organisation": order.invoice_organisation,
        "ean": order.ean,
        "payment_method": order.payment_method,
    }


def _order_snapshot(order: Order) -> dict:
    """What an order's e-mails say about the order and its people (see _order_mails)."""
    return {
        **_order_mail_fields(order),
        "total_net_ore": order.total_net_ore,
        "total_gross_ore": order.total_gross_ore,
        "attendees": [
            {
                "name": attendee.name,
                "email": attendee.email,
                "ticket_type": live_row(TicketType, attendee.ticket_type.id),
            }
            for attendee in order.attendees
        ],
    }


# --- manage links ---------------------------------------------------------------


@dataclass
class ManageView:
    """What a manage link opens: the whole order (booker) or one place (attendee)."""

    order: Order
    attendee: Attendee | None  # None for the booker's link

    @property
    def is_booker(self) -> bool:
        return self.attendee is None

    @property
    def visible_attendees(self) -> list[Attendee]:
        if self.attendee is not None:
            return [self.attendee]
        return self.order.active_attendees


# The page shows the order, its edition and every place with its ticket type:
# one round trip instead of one per relationship. Built once (see get_edition).
_ORDER_BY_MANAGE_TOKEN = (
    select(Order)
    .where(Order.manage_token_hash == bindparam("token_hash"))
    .options(
        joinedload(Order.edition),
        joinedload(Order.attendees).joinedload(Attendee.ticket_type),
    )
)
_ATTENDEE_BY_MANAGE_TOKEN = (
    select(Attendee)
    .where(Attendee.manage_token_hash == bindparam("token_hash"))
    .options(
        joinedload(Attendee.order).joinedload(Order.edition),
        joinedload(Attendee.ticket_type),
    )
)


def find_by_manage_token(token: str) -> ManageView:
    """The order or place a manage token opens; NotFound for anything else."""
    if not token or len(token) > 100:
        raise NotFound(_("This link is not valid."))
    by_hash = {"token_hash": hash_token(token)}
    order = db.session.scalars(_ORDER_BY_MANAGE_TOKEN, by_hash).unique().first()
    if order is not None:
        return ManageView(order=order, attendee=None)
    attendee = db.session.scalar(_ATTENDEE_BY_MANAGE_TOKEN, by_hash)
    if attendee is not None and attendee.status == "confirmed":
        return ManageView(order=attendee.order, attendee=attendee)
    raise NotFound(_("This link is not valid."))


# --- links sent again --------------------------------------------------------------


def _order_as_it_is_now(order: Order) -> SimpleNamespace:
    """The order as it is now, for a confirmation sent again: the active places with
    their ticket types and what they cost now."""
    places = order.active_attendees
    net = sum(a.unit_price_net_ore for a in places)
    vat = sum(vat_of(a.unit_price_net_ore, a.vat_percent) for a in places)
    return SimpleNamespace(
        **_order_mail_fields(order),
        total_net_ore=net,
        total_gross_ore=net + vat,
        attendees=[
            SimpleNamespace(name=a.name, email=a.email, ticket_type=a.ticket_type) for a in places
        ],
    )


def resend_confirmation(order: Order, *, actor: str) -> OutboxMessage:
    """The booker's confirmation again, built from the order as it is now, with its
    invoices. It carries a new manage link: the one in earlier e-mails stops working."""
    if order.status != OrderStatus.CONFIRMED or not order.active_attendees:
        raise DomainError(_("Only a confirmed registration has a confirmation to send."))
    token = new_token()
    order.manage_token_hash = hash_token(token)
    documents = db.session.scalars(
        select(Invoice)
        .where(Invoice.order_id == order.id, Invoice.kind == DocumentKind.INVOICE)
        .order_by(Invoice.id)
    ).all()
    message = queue_mail(
        "order_confirmation",
        order.booker_email,
        "order_confirmation",
        order.language,
        order_id=order.id,
        order=_order_as_it_is_now(order),
        edition=order.edition,
        ticket_type=order.active_attendees[0].ticket_type,
        manage_url=public_url("registration.manage", token=token),
    )
    message.attachments = [
        invoice_attachment(document.id, invoice_filename(document)) for document in documents
    ]
    record_audit(
        actor,
        "mail.resent",
        "order",
        order.id,
        reference=order.reference,
        kind="order_confirmation",
        to=order.booker_email,
    )
    return message


def resend_ticket(attendee: Attendee, *, actor: str) -> OutboxMessage:
    """The place's ticket again, to whoever holds it now (after a transfer, the new
    holder), with the ticket type it has now. New manage link, as above."""
    order = attendee.order
    if attendee.status != AttendeeStatus.CONFIRMED or order.status != OrderStatus.CONFIRMED:
        raise DomainError(_("This place is cancelled, so it has no ticket to send."))
    token = new_token()
    attendee.manage_token_hash = hash_token(token)
    language = order.language
    message = queue_mail(
        "ticket",
        attendee.email,
        "ticket",
        language,
        order_id=order.id,
        attachments=[calendar_attachment(order.edition, language)],
        order=order,
        edition=order.edition,
        attendee=attendee,
        ticket_type=attendee.ticket_type,
        manage_url=public_url("registration.manage", token=token),
    )
    message.attachments = [*message.attachments, ticket_pdf_attachment(attendee, language)]
    record_audit(
        actor,
        "mail.resent",
        "attendee",
        attendee.id,
        reference=order.reference,
        kind="ticket",
        to=attendee.email,
    )
    return message


def send_links_again(
    edition: Edition, email: str, *, actor: str = "public", now: datetime | None = None
) -> int:
    """Send every confirmed booker and place of the edition with this e-mail address
    their confirmation or ticket again, each with a new manage link, and every
    group on its waiting list its waiting-list e-mail or open offer again, with a
    new link; the number sent.

    For someone who lost the e-mail. The answer shown must not depend on the number
    (it would tell a stranger who is registered); the mails go only to the address.
    """
    address = email.strip().lower()
    if not address:
        return 0
    orders = db.session.scalars(
        select(Order).where(
            Order.edition_id == edition.id,
            Order.status == OrderStatus.CONFIRMED,
            func.lower(Order.booker_email) == address,
        )
    ).all()
    places = db.session.scalars(
        select(Attendee)
        .join(Order)
        .where(
            Order.edition_id == edition.id,
            Order.status == OrderStatus.CONFIRMED,
            Attendee.status == AttendeeStatus.CONFIRMED,
            func.lower(Attendee.email) == address,
        )
    ).all()
    sent = 0
    for order in orders:
        if order.active_attendees:
            resend_confirmation(order, actor=actor)
            sent += 1
    for attendee in places:
        resend_ticket(attendee, actor=actor)
        sent += 1
    return sent + _send_waiting_links_again(edition, address, actor=actor, now=now or utcnow())


def _send_waiting_links_again(edition: Edition, address: str, *, actor: str, now: datetime) -> int:
    """The waiting-list e-mail of each group still waiting, and the offer of each open
    offer, again with a new link (the old one stops working); the number sent."""
    entries = db.session.scalars(_open_waiting_entries(edition, address)).all()
    sent = 0
    for entry in entries:
        token = new_token()
        if entry.status == WaitingStatus.WAITING:
            entry.manage_token_hash = hash_token(token)
            _send_waiting_confirmation(entry, token)
            action = "waiting_list.link_sent_again"
        elif entry.offer_expires_at is not None and entry.offer_expires_at > now:
            entry.offer_token_hash = hash_token(token)
            _send_offer(entry, token)
            action = "waiting_list.offer_sent_again"
        else:
            continue  # an offer that ran out; expiring it moves the places on
        record_audit(actor, action, "waiting_list_entry", entry.id)
        sent += 1
    db.session.flush()
    return sent


# --- waiting list ---------------------------------------------------------------


class AlreadyWaiting(DomainError):
    """The booker's address already has a group waiting or offered places for the edition."""


@dataclass
class JoinedWaitingList:
    entry: WaitingListEntry
    token: str


def join_waiting_list(
    edition: Edition, details: BookingDetails, *, now: datetime | None = None
) -> JoinedWaitingList:
    """Put the whole group on the waiting list (only when it does not fit now)."""
    ticket_type = _admissible_ticket_type(edition, details, now)
    count = len(details.attendees)
    # Under the quota lock: a capacity raise or a release committing meanwhile
    # offers only to entries it can see, so joining must see its free places
    # (and be sent to register) rather than wait beside them unoffered.
    lock_quota(ticket_type.quota_id)
    if places_left(ticket_type.quota_id) >= count:
        raise DomainError(_("There are places enough for your group: register directly instead."))
    # One place in the queue per booker: a second click, or the form sent again
    # after a lost answer, must not take a second place in the queue (and later
    # hold twice the places). Under the quota lock, so two at once cannot both pass.
    if _waiting_entry_of(edition, details.booker_email) is not None:
        raise AlreadyWaiting(
            _(
                "%(email)s is already on the waiting list for this event.",
                email=details.booker_email.strip(),
            )
        )
    token = new_token()
    entry = WaitingListEntry(
        edition_id=edition.id,
        ticket_type_id=ticket_type.id,
        quantity=count,
        language=details.language,
        booker_name=details.booker_name.strip(),
        booker_email=details.booker_email.strip(),
        organisation=details.organisation.strip(),
        payload=details.to_payload(),
        manage_token_hash=hash_token(token),
    )
    entry.edition = edition
    db.session.add(entry)
    db.session.flush()
    record_audit("booker", "waiting_list.joined", "waiting_list_entry", entry.id, places=count)
    _send_waiting_confirmation(entry, token)
    return JoinedWaitingList(entry=entry, token=token)


def _send_waiting_confirmation(entry: WaitingListEntry, token: str) -> None:
    """The e-mail saying the group is on the waiting list, its position and its link."""
    queue_mail(
        "waiting_list_joined",
        entry.booker_email,
        "waiting_list_joined",
        entry.language,
        entry=entry,
        edition=entry.edition,
        position=waiting_position(entry),
        manage_url=public_url("registration.waiting_entry", token=token),
    )


def _send_offer(entry: WaitingListEntry, token: str) -> None:
    """The e-mail offering the held places, with the link that accepts them."""
    queue_mail(
        "waiting_list_offer",
        entry.booker_email,
        "waiting_list_offer",
        entry.language,
        entry=entry,
        edition=entry.edition,
        offer_url=public_url("registration.waiting_entry", token=token),
    )


def _open_waiting_entries(edition: Edition, email: str):
    """The query for the booker's groups still waiting or offered places, oldest first."""
    return (
        select(WaitingListEntry)
        .where(
            WaitingListEntry.edition_id == edition.id,
            WaitingListEntry.status.in_((WaitingStatus.WAITING, WaitingStatus.OFFERED)),
            func.lower(WaitingListEntry.booker_email) == email.strip().lower(),
        )
        .order_by(WaitingListEntry.id)
    )


def _waiting_entry_of(edition: Edition, email: str) -> WaitingListEntry | None:
    """The booker's group still waiting or offered places for the edition, if any."""
    return db.session.scalar(_open_waiting_entries(edition, email).limit(1))


def waiting_position(entry: WaitingListEntry) -> int:
    """1-based place in the queue among those still waiting (0 if not waiting)."""
    if entry.status != WaitingStatus.WAITING:
        return 0
    ahead = db.session.scalar(
        select(func.count(WaitingListEntry.id)).where(
            WaitingListEntry.edition_id == entry.edition_id,
            WaitingListEntry.status == WaitingStatus.WAITING,
            WaitingListEntry.id < entry.id,
        )
    )
    return int(ahead or 0) + 1


def waiting_list_summary(edition: Edition) -> tuple[int, int]:
    """(groups waiting, people waiting) for the edition."""
    row = db.session.execute(
        select(
            func.count(WaitingListEntry.id), func.coalesce(func.sum(WaitingListEntry.quantity), 0)
        ).where(
            WaitingListEntry.edition_id == edition.id,
            WaitingListEntry.status == WaitingStatus.WAITING,
        )
    ).one()
    return int(row[0]), int(row[1])


def held_places(edition: Edition) -> int:
    """Places held by open waiting-list offers and by card orders waiting for payment."""
    offers = db.session.scalar(
        select(func.coalesce(func.sum(WaitingListEntry.quantity), 0)).where(
            WaitingListEntry.edition_id == edition.id,
            WaitingListEntry.status == WaitingStatus.OFFERED,
        )
    )
    card = db.session.scalar(
        select(func.count(Attendee.id))
        .join(Order, Attendee.order_id == Order.id)
        .where(Order.edition_id == edition.id, Order.status == OrderStatus.PENDING_PAYMENT)
    )
    return int(offers or 0) + int(card or 0)


def find_waiting_entry(token: str) -> tuple[WaitingListEntry, bool]:
    """The entry a link opens and whether it was the offer link (True) or the manage link."""
    if not token or len(token) > 100:
        raise NotFound(_("This link is not valid."))
    token_hash = hash_token(token)
    entry = db.session.scalar(
        select(WaitingListEntry).where(WaitingListEntry.offer_token_hash == token_hash)
    )
    if entry is not None:
        return entry, True
    entry = db.session.scalar(
        select(WaitingListEntry).where(WaitingListEntry.manage_token_hash == token_hash)
    )
    if entry is None:
        raise NotFound(_("This link is not valid."))
    return entry, False


def _lock_quotas(edition: Edition) -> dict[int, int]:
    """Lock the edition's quotas (in id order) and return the free places of each.

    Offering, expiring and declining all change entries and the quota
    together; taking the quota lock first in every one of them (and in
    ``change_capacity``) gives one lock order, so they queue instead of
    deadlocking, and each sees the others' committed result.
    """
    quota_ids = db.session.scalars(
        select(TicketType.quota_id)
        .where(TicketType.edition_id == edition.id)
        .distinct()
        .order_by(TicketType.quota_id)
    ).all()
    free = {}
    for quota_id in quota_ids:
        quota = lock_quota(quota_id)
        free[quota_id] = max(quota.capacity - quota.taken, 0)
    return free


def offer_free_places(edition: Edition, *, now: datetime | None = None) -> list[WaitingListEntry]:
    """Offer free places to the first waiting groups that fit, holding them.

    Expired offers are released first. Runs under the quota lock, and each
    offer is still a conditional status change plus a conditional claim, so
    concurrent runs never offer the same entry twice nor hold more places
    than are free.
    """
    now = now or utcnow()
    expire_offers(edition, now=now, offer_next=False)  # takes the quota lock first
    free = _lock_quotas(edition)
    offered: list[WaitingListEntry] = []
    if not any(free.values()):
        return offered
    waiting = db.session.scalars(
        select(WaitingListEntry)
        .where(
            WaitingListEntry.edition_id == edition.id,
            WaitingListEntry.status == WaitingStatus.WAITING,
        )
        .order_by(WaitingListEntry.id)
    ).all()
    for entry in waiting:
        if not any(free.values()):
            break
        quota_id = entry.ticket_type.quota_id
        # "The first entries that fit": a group too big for what is free keeps
        # its place in the queue while smaller groups behind it are offered.
        if entry.quantity > free.get(quota_id, 0):
            continue
        if not _set_status(entry, WaitingStatus.WAITING, WaitingStatus.OFFERED):
            continue  # left the list meanwhile
        if not claim_places(quota_id, entry.quantity):
            _set_status(entry, WaitingStatus.OFFERED, WaitingStatus.WAITING)
            continue
        free[quota_id] -= entry.quantity
        token = new_token()
        entry.offer_token_hash = hash_token(token)
        entry.offered_at = now
        entry.offer_expires_at = now + timedelta(hours=edition.offer_valid_hours)
        record_audit("system", "waiting_list.offered", "waiting_list_entry", entry.id)
        _send_offer(entry, token)
        offered.append(entry)
    db.session.flush()
    return offered


def _set_status(entry: WaitingListEntry, old: str, new: str) -> bool:
    """Move an entry from one status to another only if it is still in the old one."""
    result = db.session.execute(
        update(WaitingListEntry)
        .where(WaitingListEntry.id == entry.id, WaitingListEntry.status == old)
        .values(status=new)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        # The row already says so; do not write it a second time at the next flush.
        set_committed_value(entry, "status", new)
        return True
    return False


def expire_offers(edition: Edition, *, now: datetime | None = None, offer_next: bool = True) -> int:
    """Release the places of offers that ran out and tell their bookers; returns how many.

    The expired offer link keeps working only to say that it expired.
    """
    now = now or utcnow()
    _lock_quotas(edition)
    due = db.session.scalars(
        select(WaitingListEntry)
        .where(
            WaitingListEntry.edition_id == edition.id,
            WaitingListEntry.status == WaitingStatus.OFFERED,
            WaitingListEntry.offer_expires_at <= now,
        )
        .order_by(WaitingListEntry.id)
    ).all()
    expired = 0
    for entry in due:
        if not _set_status(entry, WaitingStatus.OFFERED, WaitingStatus.EXPIRED):
            continue
        release_places(entry.ticket_type.quota_id, entry.quantity)
        record_audit("system", "waiting_list.offer_expired", "waiting_list_entry", entry.id)
        queue_mail(
            "waiting_list_expired",
            entry.booker_email,
            "waiting_list_expired",
            entry.language,
            entry=entry,
            edition=edition,
        )
        expired += 1
    if expired and offer_next:
        offer_free_places(edition, now=now)
    return expired


def accept_offer(token: str, *, now: datetime | None = None) -> PlacedOrder:
    """Turn an open offer into a confirmed order with the places it holds.

    The places were claimed when the offer was made; accepting only writes
    the order. A second click, an expired or a declined offer is refused.
    """
    now = now or utcnow()
    entry, is_offer = find_waiting_entry(token)
    if not is_offer:
        raise NotFound(_("This link is not valid."))
    if entry.status == WaitingStatus.OFFERED and entry.offer_expires_at <= now:
        expire_offers(entry.edition, now=now)
    _refuse_unless_offered(entry)
    if not _set_status(entry, WaitingStatus.OFFERED, WaitingStatus.ACCEPTED):
        # Someone else (the other click, the expiry worker) got there first.
        db.session.refresh(entry)
        _refuse_unless_offered(entry)
        raise DomainError(_("This offer is no longer open."))
    details = BookingDetails.from_payload(entry.payload)
    ticket_type = entry.ticket_type
    placed = _write_order(entry.edition, ticket_type, details, actor="booker")
    entry.order_id = placed.order.id
    return placed


def _refuse_unless_offered(entry: WaitingListEntry) -> None:
    if entry.status == WaitingStatus.ACCEPTED:
        raise DomainError(_("You have already accepted this offer."))
    if entry.status == WaitingStatus.EXPIRED:
        raise DomainError(_("This offer has expired, and the places went to the next in line."))
    if entry.status != WaitingStatus.OFFERED:
        raise DomainError(_("This offer is no longer open."))


def leave_waiting_list(token: str, *, now: datetime | None = None) -> WaitingListEntry:
    """Take a group off the waiting list, or decline its offer (the places move on)."""
    entry, _is_offer = find_waiting_entry(token)
    # Quota lock first, as everywhere else, even to leave a plain waiting entry:
    # on PostgreSQL an UPDATE that waited for an offer run and then no longer
    # matched still keeps the row locked, so taking the quota after it deadlocks.
    _lock_quotas(entry.edition)
    if _set_status(entry, WaitingStatus.WAITING, WaitingStatus.WITHDRAWN):
        record_audit("booker", "waiting_list.left", "waiting_list_entry", entry.id)
        return entry
    if _set_status(entry, WaitingStatus.OFFERED, WaitingStatus.WITHDRAWN):
        release_places(entry.ticket_type.quota_id, entry.quantity)
        entry.offer_token_hash = None
        record_audit("booker", "waiting_list.declined", "waiting_list_entry", entry.id)
        offer_free_places(entry.edition, now=now)
        return entry
    raise DomainError(_("This entry is no longer on the waiting list."))


def expire_all_offers(now: datetime | None = None) -> int:
    """Expire due offers in every edition and offer the places on (for the worker)."""
    total = 0
    for edition in db.session.scalars(select(Edition)).all():
        total += expire_offers(edition, now=now)
    return total


# --- card orders: holds and payment ------------------------------------------------


class ConfirmOutcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    #: The hold had run out, but the places were still free: taken again.
    LATE_CONFIRMED = "late_confirmed"
    #: The hold had run out and the places are gone: the payment must be refunded.
    NO_PLACES = "no_places"


def _move_order(order: Order, old: str, new: str) -> bool:
    """Change an order's status only if it still has the old one (locks the row)."""
    result = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == old)
        .values(status=new)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        set_committed_value(order, "status", new)
        return True
    return False


def confirm_card_payment(
    order: Order, *, amount_ore: int, paid_at: datetime, now: datetime | None = None
) -> ConfirmOutcome:
    """Confirm a card order whose payment arrived, in the caller's transaction.

    Confirming issues the invoice, records the card payment on it (so it
    prints as paid) and queues the receipt with the invoice and the tickets.
    A payment that arrives after its hold ran out still gets the places if
    they are free; otherwise nothing changes and NO_PLACES tells the caller
    to refund. Safe to call twice, or from two processes at once: the order's
    status changes with a conditional write, and the loser sees it done.
    """
    now = now or utcnow()
    if _move_order(order, OrderStatus.PENDING_PAYMENT, OrderStatus.CONFIRMED):
        outcome = ConfirmOutcome.CONFIRMED
    elif _move_order(order, OrderStatus.EXPIRED, OrderStatus.CONFIRMED):
        attendees = order.attendees
        if not claim_places(attendees[0].ticket_type.quota_id, len(attendees)):
            _move_order(order, OrderStatus.CONFIRMED, OrderStatus.EXPIRED)
            record_audit("stripe", "order.late_payment_refused", "order", order.id)
            return ConfirmOutcome.NO_PLACES
        outcome = ConfirmOutcome.LATE_CONFIRMED
    else:
        db.session.refresh(order)
        if order.status == OrderStatus.CONFIRMED:
            return ConfirmOutcome.ALREADY_CONFIRMED
        # Cancelled by an organiser before the money came: it goes back.
        return ConfirmOutcome.NO_PLACES
    order.hold_expires_at = None
    order.payment_status = PaymentStatus.PAID
    db.session.flush()
    invoice = issue_invoice(order, now=now, actor="stripe")
    record_payment(
        invoice,
        paid_on=min(copenhagen_date(paid_at), copenhagen_date(now)),
        amount_ore=amount_ore,
        method="card",
        actor="stripe",
        now=now,
    )
    _send_confirmation(order, invoice)
    record_audit("stripe", "order.paid", "order", order.id, outcome=str(outcome))
    return outcome


def _send_confirmation(order: Order, invoice: Invoice | None) -> None:
    """Queue the confirmation and the tickets of an order confirmed after it was placed.

    The manage links were made when the order was placed and only their
    hashes kept; new ones go out in these e-mails, and the old ones stop working.
    """
    booker_token = new_token()
    order.manage_token_hash = hash_token(booker_token)
    placed = PlacedOrder(order=order, booker_token=booker_token)
    tokens = []
    for attendee in order.attendees:
        token = new_token()
        attendee.manage_token_hash = hash_token(token)
        placed.attendee_tokens[attendee.id] = token
        tokens.append(token)
    mails = _order_mails(placed, tokens, order.attendees[0].ticket_type)
    draft = _DraftOrder(placed=placed, attendee_tokens=tokens, mails=mails)
    for message in draft.mails:
        message.order_id = order.id
        if invoice is not None and message.kind == "order_confirmation":
            message.attachments = [
                *message.attachments,
                invoice_attachment(invoice.id, invoice_filename(invoice)),
            ]
    add_mails(draft.mails)


def release_hold(order: Order, *, now: datetime | None = None, reason: str) -> bool:
    """Give back the places of an unpaid card order and offer them on; False if not held.

    ``reason``: "expired" (the hold ran out), "cancelled" (the booker left
    Checkout) or "payment_failed".
    """
    if not _move_order(order, OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED):
        return False
    attendees = order.attendees
    _give_back_code_uses(order, len(attendees))
    release_places(attendees[0].ticket_type.quota_id, len(attendees))
    order.hold_expires_at = None
    record_audit("system", "order.hold_released", "order", order.id, reason=reason)
    db.session.flush()
    offer_free_places(order.edition, now=now)
    return True


def _give_back_code_uses(order: Order, places: int) -> None:
    """The access code's uses of places that went back, for another booker to use.

    Before the places are released: a booking takes the code's row before the
    quota's (see place_order), and so must everything else that takes both.
    """
    if order.access_code_id is not None:
        give_back_code_use(order.access_code_id, places)


def card_orders_to_expire(now: datetime | None = None) -> list[Order]:
    """Card orders still waiting for payment whose hold has run out."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.hold_expires_at <= now)
            .order_by(Order.id)
        )
    )


# --- cancellation by an organiser ---------------------------------------------------


@dataclass
class Cancellation:
    """What cancelling did: the places freed, the credit note, the refund asked for."""

    order: Order
    attendees: list[Attendee]
    credit_note: Invoice | None
    refund_ore: int
    #: Every credit note issued, the first being ``credit_note``: more than one when
    #: a cancelled place had been moved to another price (it has its own invoice).
    credit_notes: list[Invoice] = field(default_factory=list)


def cancel_order(order: Order, *, actor: str, reason: str = "") -> Cancellation:
    """Cancel every remaining place of a confirmed order (organisers only).

    Issues a credit note for what was invoiced and not yet credited, asks
    Stripe to refund a card payment, frees the places for the waiting list
    and tells the booker and each attendee.
    """
    return _cancel(order, order.active_attendees, actor=actor, reason=reason)


def cancel_attendee(
    attendee: Attendee, *, actor: str, reason: str = "", expected_version: int | None = None
) -> Cancellation:
    """Cancel one place of a group: a partial credit note (and refund) for that place.

    ``expected_version`` is the place's ticket_version as the organiser saw it:
    if the place changed hands since, nothing is cancelled.
    """
    return _cancel(
        attendee.order, [attendee], actor=actor, reason=reason, expected_version=expected_version
    )


def lock_confirmed_order(order: Order) -> bool:
    """Lock a confirmed order's row for the rest of the transaction; False if not confirmed.

    Everything that changes who holds a place or whether it is still there
    (cancellation, transfer, approving a transfer) takes this lock first, so
    they happen one after the other. Lock order: the order row, then the
    access code (if any), then the quota, then the number series.
    """
    return _move_order(order, OrderStatus.CONFIRMED, OrderStatus.CONFIRMED)


def _changed_hands() -> DomainError:
    return DomainError(_("The place has changed hands since you opened the page; look again."))


def _cancel(
    order: Order,
    attendees: list[Attendee],
    *,
    actor: str,
    reason: str,
    expected_version: int | None = None,
) -> Cancellation:
    # Lock order: the order row, then the access code, the quota, the number series,
    # as when places are claimed and invoiced; see place_order.
    if not lock_confirmed_order(order):
        raise DomainError(_("Only a confirmed registration can be cancelled."))
    db.session.refresh(order)
    # The caller read the places before the lock: a second click on "cancel"
    # that waited for the first must see what the first committed.
    db.session.scalars(
        select(Attendee)
        .where(Attendee.order_id == order.id)
        .execution_options(populate_existing=True)
    ).all()
    attendees = [a for a in attendees if a.status == AttendeeStatus.CONFIRMED]
    if not attendees or any(a.order_id != order.id for a in attendees):
        raise DomainError(_("This place is already cancelled."))
    if expected_version is not None and any(
        a.ticket_version != expected_version for a in attendees
    ):
        raise _changed_hands()
    remaining = [a for a in order.active_attendees if a not in attendees]
    for attendee in attendees:
        # A conditional write on the place as just read: a check-in at the door
        # (which does not lock the order) in between refuses the cancellation
        # instead of being overwritten.
        result = db.session.execute(
            update(Attendee)
            .where(
                Attendee.id == attendee.id,
                Attendee.status == AttendeeStatus.CONFIRMED,
                Attendee.ticket_version == attendee.ticket_version,
                Attendee.checked_in_at.is_(None)
                if attendee.checked_in_at is None
                else Attendee.checked_in_at.is_not(None),
            )
            .values(status=AttendeeStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise DomainError(
                _(
                    "The place has changed since you opened the page (checked in or handed on); "
                    "look again."
                )
            )
        set_committed_value(attendee, "status", AttendeeStatus.CANCELLED)
    if not remaining:
        order.status = OrderStatus.CANCELLED
    # By quota: an organiser may have moved a place to a ticket type of another quota.
    freed: dict[int, int] = {}
    for attendee in attendees:
        freed[attendee.ticket_type.quota_id] = freed.get(attendee.ticket_type.quota_id, 0) + 1
    _give_back_code_uses(order, len(attendees))
    for quota_id in sorted(freed):
        release_places(quota_id, freed[quota_id])
    db.session.flush()

    credit_notes = []
    refund_ore = 0
    # Mostly one invoice; a place an organiser moved to another price has its own.
    still_billed = {invoice.id for invoice, _places in _places_by_invoice(remaining)}
    for invoice, billed in _places_by_invoice(attendees):
        credit_note = issue_credit_note(
            invoice,
            credit_lines(invoice, order, billed, whole=invoice.id not in still_billed),
            order=order,
            reason=reason,
            actor=actor,
        )
        credit_notes.append(credit_note)
        if (
            order.payment_method == PaymentMethod.CARD
            and order.payment_status == PaymentStatus.PAID
        ):
            from conference.payments.services import request_refund

            refund_ore += credit_note.total_ore
            request_refund(
                order, credit_note.total_ore, reason="cancelled", credit_note=credit_note
            )
    credit_note = credit_notes[0] if credit_notes else None
    record_audit(
        actor,
        "order.cancelled" if not remaining else "attendee.cancelled",
        "order",
        order.id,
        reference=order.reference,
        attendees=[a.id for a in attendees],
        reason=reason,
        credit_note=credit_note.number if credit_note else None,
        **(
            {"credit_notes": [note.number for note in credit_notes]}
            if len(credit_notes) > 1
            else {}
        ),
    )
    _queue_cancellation_mails(order, attendees, credit_notes, refund_ore, reason)
    from conference.transfers.services import close_requests

    close_requests([a.id for a in attendees], because="place_cancelled")
    db.session.flush()
    offer_free_places(order.edition)
    return Cancellation(order, attendees, credit_note, refund_ore, credit_notes)


def _places_by_invoice(attendees: list[Attendee]) -> list[tuple[Invoice, list[Attendee]]]:
    """The places that were sold (a price above 0), grouped by the invoice billing them."""
    groups: dict[int, tuple[Invoice, list[Attendee]]] = {}
    for attendee in attendees:
        invoice = place_invoice(attendee) if attendee.unit_price_net_ore else None
        if invoice is not None:
            groups.setdefault(invoice.id, (invoice, []))[1].append(attendee)
    return list(groups.values())


def _queue_cancellation_mails(
    order: Order,
    attendees: list[Attendee],
    credit_notes: list[Invoice],
    refund_ore: int,
    reason: str,
) -> None:
    credit_note = credit_notes[0] if credit_notes else None
    attachments = [invoice_attachment(note.id, invoice_filename(note)) for note in credit_notes]
    message = queue_mail(
        "order_cancelled",
        order.booker_email,
        "order_cancelled",
        order.language,
        order_id=order.id,
        order=order,
        edition=order.edition,
        cancelled=attendees,
        credit_note=credit_note,
        credit_notes=credit_notes,
        refund_ore=refund_ore,
        reason=reason,
    )
    message.attachments = attachments
    for attendee in attendees:
        if attendee.email.lower() == order.booker_email.lower():
            continue
        queue_mail(
            "place_cancelled",
            attendee.email,
            "place_cancelled",
            order.language,
            order_id=order.id,
            order=order,
            edition=order.edition,
            attendee=attendee,
            reason=reason,
        )
