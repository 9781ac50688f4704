"""Selling stands on the floor plan, first come first served, and the exhibitor's own page.

A stand is taken with one conditional write on its row::

    UPDATE stand SET status = :new WHERE id = :id AND status = 'free'

and the row count decides: of any number of companies booking the same stand
at once, exactly one gets it and every other one gets ``StandTaken`` with
nothing written. Only the winner then writes its booking and points the stand
at it (``booking_id``, unique, so never two bookings on one stand), while it
holds the row lock of its write. The booking is written after the claim, not
before: on PostgreSQL inserting a booking takes a key-share lock on its stand
(the foreign key), and setting the unique ``booking_id`` needs the stronger
lock, so bookings written before the claim deadlock against each other.

In ``binding`` mode a booking is confirmed at once and invoiced; in
``approval`` mode it is a request that holds the stand (``reserved``) until an
organiser approves (confirmed and invoiced) or declines it (the stand is free
again). Organisers also move a booking to another free stand and cancel it
(credit note). Each of these locks the booking row first, with a conditional
write on its status, so two organisers acting on the same booking at once end
in one of their actions and the other is told. Lock order everywhere: the
booking, then the stands, then the invoice number series.

The exhibitor's manage link (a random token, stored hashed) opens a page to
name the stand staff (``ExhibitorPass``: a ticket like an attendee's, outside
the attendee capacity), buy extra passes, change names until the hall's
staff deadline, and give a description, website and logo for the public
exhibitor list.
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from babel.numbers import format_decimal
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import pgettext
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from conference.core.db import db, utcnow
from conference.core.errors import DomainError, NotFound
from conference.core.i18n import babel_locale
from conference.core.money import Amounts, gross_of, vat_of
from conference.core.security import hash_token, new_ticket_code, new_token
from conference.core.services import record_audit
from conference.core.urls import public_url
from conference.events.models import Edition
from conference.events.services import calendar_attachment
from conference.invoicing.models import Invoice
from conference.mail.services import invoice_attachment, queue_mail
from conference.registration.services import REFERENCE_ALPHABET, normalise_cvr, normalise_ean
from conference.stands.models import (
    AddonKind,
    BookingMode,
    ExhibitorPass,
    ExhibitorPassStatus,
    Stand,
    StandAddon,
    StandBooking,
    StandBookingStatus,
    StandHall,
    StandPackage,
    StandStatus,
)

#: The largest logo an exhibitor may upload, in bytes.
MAX_LOGO_BYTES = 1024 * 1024
#: PNG and JPEG only, named by what Pillow finds in the bytes, never by the upload's name.
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
MAX_DESCRIPTION_LENGTH = 1000
#: The largest logo in pixels on either side (a decompression bomb is refused).
MAX_LOGO_PIXELS = 4000

_POSTCODE = re.compile(r"^\d{4}$")
#: A web address: http(s), a host name with a dot in it (æøå allowed), a port, a path.
_WEBSITE = re.compile(
    r"^https?://\w(?:[\w-]*\w)?(?:\.\w(?:[\w-]*\w)?)+"
    r"(?::\d{1,5})?(?:[/?#][^\s]*)?$",
    re.IGNORECASE,
)


class StandTaken(DomainError):
    """Someone else got the stand first (or it was never free); nothing was written."""


class BookingsClosed(DomainError):
    """The edition has no exhibition, or it does not take bookings now."""


class InvalidStandBooking(DomainError):
    """The submitted details break a rule; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())))
        self.errors = errors


class StaffDeadlinePassed(DomainError):
    """The hall's staff deadline has passed: names can no longer be given or changed."""


# --- the hall and its plan --------------------------------------------------------------


def get_hall(edition: Edition) -> StandHall | None:
    """The edition's exhibition hall, or None when the edition has no exhibition."""
    return db.session.scalar(select(StandHall).where(StandHall.edition_id == edition.id))


def stands_of(edition: Edition) -> list[Stand]:
    """Every stand of the edition with its package (and booking), in code order."""
    return list(
        db.session.scalars(
            select(Stand)
            .where(Stand.edition_id == edition.id)
            .options(joinedload(Stand.package), joinedload(Stand.booking))
            .order_by(Stand.code)
        )
    )


def get_stand(edition: Edition, code: str) -> Stand:
    """The edition's stand with this code, or NotFound."""
    stand = db.session.scalar(
        select(Stand)
        .where(Stand.edition_id == edition.id, Stand.code == code[:20])
        .options(joinedload(Stand.package))
    )
    if stand is None:
        raise NotFound(_("This stand does not exist."))
    return stand


def free_stands(edition: Edition) -> list[Stand]:
    """The stands nobody has booked or asked for, in code order."""
    return [s for s in stands_of(edition) if s.status == StandStatus.FREE]


def active_addons(edition: Edition) -> list[StandAddon]:
    """The add-ons exhibitors may order now, in the organiser's order."""
    return list(
        db.session.scalars(
            select(StandAddon)
            .where(StandAddon.edition_id == edition.id, StandAddon.is_active.is_(True))
            .order_by(StandAddon.sort_order, StandAddon.id)
        )
    )


def extra_pass_addon(edition: Edition) -> StandAddon | None:
    """The active add-on that is one more exhibitor pass (its price is an extra pass's)."""
    return next((a for a in active_addons(edition) if a.kind == AddonKind.EXTRA_PASS), None)


def status_label(status: str) -> str:
    """The word a visitor reads for a stand's status (the plan's colour says it too)."""
    labels = {
        StandStatus.FREE: pgettext("stand status", "Free"),
        StandStatus.RESERVED: pgettext("stand status", "Reserved"),
        StandStatus.BOOKED: pgettext("stand status", "Booked"),
    }
    return labels.get(status, status)


def format_area(area_m2: float, language: str) -> str:
    """ "9 m²", "7,5 m²" in Danish, "7.5 m²" in English."""
    return f"{format_decimal(round(area_m2, 2), '#,##0.##', locale=babel_locale(language))} m²"


@dataclass(frozen=True)
class PlanStand:
    """One stand as the plan and the list draw it: plain values, already in words."""

    id: int
    code: str
    x_cm: int
    y_cm: int
    width_cm: int
    depth_cm: int
    area: str
    status: str
    status_label: str
    package_name: str
    included_passes: int
    includes: list[str]
    price_net_ore: int
    price_gross_ore: int
    vat_percent: int
    #: The exhibitor on a booked (confirmed) stand; requests are not shown publicly.
    company: str

    @property
    def is_free(self) -> bool:
        return self.status == StandStatus.FREE

    @property
    def label_size(self) -> int:
        """The code's font size on the plan, in the plan's centimetres."""
        return max(min(self.width_cm, self.depth_cm) // 4, 20)


@dataclass(frozen=True)
class FloorPlan:
    """Everything needed to draw the hall: its size, whether it has a picture, the stands."""

    hall_id: int
    name: str
    width_cm: int
    depth_cm: int
    has_background: bool
    stands: list[PlanStand]

    @property
    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in StandStatus}
        for stand in self.stands:
            counts[stand.status] = counts.get(stand.status, 0) + 1
        return counts


def floor_plan(edition: Edition, language: str) -> FloorPlan | None:
    """The edition's floor plan for drawing (``templates/stands/_plan.html``), or None."""
    hall = get_hall(edition)
    if hall is None:
        return None
    stands = []
    for stand in stands_of(edition):
        package = stand.package
        booking = stand.booking
        stands.append(
            PlanStand(
                id=stand.id,
                code=stand.code,
                x_cm=stand.x_cm,
                y_cm=stand.y_cm,
                width_cm=stand.width_cm,
                depth_cm=stand.depth_cm,
                area=format_area(stand.area_m2, language),
                status=stand.status,
                status_label=status_label(stand.status),
                package_name=package.display_name(language),
                included_passes=package.included_passes,
                includes=package.included_items(language),
                price_net_ore=package.price_net_ore,
                price_gross_ore=package.price_gross_ore,
                vat_percent=package.vat_percent,
                company=booking.company
                if booking is not None and booking.status == StandBookingStatus.CONFIRMED
                else "",
            )
        )
    return FloorPlan(
        hall_id=hall.id,
        name=hall.name,
        width_cm=hall.width_cm,
        depth_cm=hall.depth_cm,
        has_background=hall.background_type is not None,
        stands=stands,
    )


# --- booking a stand --------------------------------------------------------------------


@dataclass
class StandBookingDetails:
    """Everything a company submits to book a stand; plain values, no request objects."""

    company: str
    cvr: str
    address: str
    postcode: str
    city: str
    contact_name: str
    contact_email: str
    contact_phone: str
    invoice_email: str
    ean: str | None = None
    personreference: str | None = None
    buyer_order_number: str | None = None
    accounting_cost: str | None = None
    #: Add-on id -> quantity asked for (0 or absent: none).
    addons: dict[int, int] = field(default_factory=dict)
    terms_accepted: bool = False
    language: str = "da"


@dataclass
class BookedStand:
    """A new booking and its plain manage token, known only now (we store the hash)."""

    booking: StandBooking
    token: str
    invoice: Invoice | None = None


def _too_long(limit: int) -> str:
    return _("This is too long (at most %(max)d characters).", max=limit)


def _email_error(value: str) -> str | None:
    if not value:
        return _("This field is required.")
    if len(value) > 254:
        return _too_long(254)
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return _("Enter a valid e-mail address.")
    return None


def check_stand_booking(edition: Edition, details: StandBookingDetails) -> dict[str, str]:
    """Field errors of a stand booking, translated; empty when it may be placed.

    Normalises in place what is valid: text stripped, CVR and EAN to their digits.
    Add-on errors are under ``addon-<id>``, the terms under ``terms_accepted``.
    """
    errors: dict[str, str] = {}
    for name, limit in (
        ("company", 200),
        ("address", 200),
        ("postcode", 10),
        ("city", 100),
        ("contact_name", 200),
        ("contact_phone", 40),
    ):
        value = (getattr(details, name) or "").strip()
        setattr(details, name, value)
        if not value:
            errors[name] = _("This field is required.")
        elif len(value) > limit:
            errors[name] = _too_long(limit)
    if "postcode" not in errors and not _POSTCODE.match(details.postcode):
        errors["postcode"] = _("A Danish postcode has 4 digits.")

    details.cvr = (details.cvr or "").strip()
    if not details.cvr:
        errors["cvr"] = _("This field is required.")
    else:
        try:
            details.cvr = normalise_cvr(details.cvr)
        except ValueError:
            errors["cvr"] = _("This is not a valid CVR number (8 digits).")

    for name in ("contact_email", "invoice_email"):
        value = (getattr(details, name) or "").strip()
        setattr(details, name, value)
        problem = _email_error(value)
        if problem:
            errors[name] = problem

    details.ean = (details.ean or "").strip() or None
    if details.ean:
        try:
            details.ean = normalise_ean(details.ean)
        except ValueError:
            errors["ean"] = _(
                "This is not a valid EAN location number (13 digits with a check digit)."
            )
    for name in ("personreference", "buyer_order_number", "accounting_cost"):
        value = (getattr(details, name) or "").strip() or None
        setattr(details, name, value)
        if value and len(value) > 100:
            errors[name] = _too_long(100)

    addons = {addon.id: addon for addon in active_addons(edition)}
    for addon_id, quantity in details.addons.items():
        addon = addons.get(addon_id)
        if addon is None:
            if quantity:
                errors[f"addon-{addon_id}"] = _("This add-on is not available.")
            continue
        if not isinstance(quantity, int) or not 0 <= quantity <= addon.max_quantity:
            errors[f"addon-{addon_id}"] = _(
                "Choose a number from 0 to %(max)d.", max=addon.max_quantity
            )

    if not details.terms_accepted:
        errors["terms_accepted"] = _("You must accept the exhibitor terms to book a stand.")
    return errors


def _new_reference() -> str:
    return "ST" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


def taken_message(stand: Stand) -> str:
    return _(
        "Sorry, stand %(code)s was just taken by another company. Nothing has been booked; "
        "choose one of the stands that are still free.",
        code=stand.code,
    )


def _addon_snapshot(edition: Edition, wanted: dict[int, int], language: str) -> list[dict]:
    """What was ordered at the prices of the day, in the organiser's order of add-ons."""
    snapshot = []
    for addon in active_addons(edition):
        quantity = wanted.get(addon.id, 0)
        if quantity:
            snapshot.append(
                {
                    "addon_id": addon.id,
                    "kind": addon.kind,
                    "name": addon.display_name(language),
                    "quantity": quantity,
                    "unit_net_ore": addon.price_net_ore,
                    "vat_percent": addon.vat_percent,
                }
            )
    return snapshot


def _take_stand(stand_id: int, new_status: str) -> bool:
    """The one conditional write that takes a free stand; True if this transaction got it.

    It locks the stand's row until commit: whoever else wants the stand waits,
    then finds it no longer free. Only what holds the stand writes anything more.
    """
    result = db.session.execute(
        update(Stand)
        .where(Stand.id == stand_id, Stand.status == StandStatus.FREE, Stand.booking_id.is_(None))
        .values(status=new_status)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _point_stand_at(stand_id: int, booking_id: int) -> None:
    """Tie a stand this transaction has just taken to its booking (the row is locked)."""
    db.session.execute(
        update(Stand)
        .where(Stand.id == stand_id, Stand.booking_id.is_(None))
        .values(booking_id=booking_id)
        .execution_options(synchronize_session=False)
    )


def _free_stand(stand_id: int, booking_id: int) -> bool:
    """Give a stand back, only if this booking still holds it; True if it did."""
    result = db.session.execute(
        update(Stand)
        .where(Stand.id == stand_id, Stand.booking_id == booking_id)
        .values(status=StandStatus.FREE, booking_id=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def book_stand(
    edition: Edition,
    stand: Stand,
    details: StandBookingDetails,
    *,
    now: datetime | None = None,
    actor: str = "exhibitor",
) -> BookedStand:
    """Book a free stand for a company (public, first come first served).

    Binding mode: the booking is confirmed, invoiced (stand, package and
    add-ons, 25 % VAT, Peppol UBL) and the confirmation with the invoice and
    the manage link queued. Approval mode: the booking is a request that
    holds the stand (reserved) until an organiser decides; the request-received
    e-mail carries the manage link. Raises BookingsClosed, InvalidStandBooking
    (every field error at once) or StandTaken; in every error case nothing is
    written.
    """
    now = now or utcnow()
    hall = get_hall(edition)
    if hall is None or not hall.bookings_open:
        raise BookingsClosed(_("Stands cannot be booked at the moment."))
    if stand.edition_id != edition.id:
        raise NotFound(_("This stand does not exist."))
    errors = check_stand_booking(edition, details)
    if errors:
        raise InvalidStandBooking(errors)
    if stand.status != StandStatus.FREE:
        # A plain read refuses early; only the conditional write below ever takes a stand.
        raise StandTaken(taken_message(stand))

    binding = hall.booking_mode == BookingMode.BINDING
    new_status = StandStatus.BOOKED if binding else StandStatus.RESERVED
    if not _take_stand(stand.id, new_status):
        raise StandTaken(taken_message(stand))
    # The stand's row is locked now: read it (and its package) again, so an organiser's
    # change of size or package that committed after our first read is what is booked
    # and invoiced, not the copy the request started with.
    db.session.refresh(stand)
    package = db.session.get(StandPackage, stand.package_id, populate_existing=True)
    token = new_token()
    booking = StandBooking(
        reference=_new_reference(),
        edition_id=edition.id,
        stand_id=stand.id,
        status=StandBookingStatus.CONFIRMED if binding else StandBookingStatus.REQUESTED,
        language=details.language,
        created_at=now,
        manage_token_hash=hash_token(token),
        company=details.company,
        cvr=details.cvr,
        address=details.address,
        postcode=details.postcode,
        city=details.city,
        contact_name=details.contact_name,
        contact_email=details.contact_email,
        contact_phone=details.contact_phone,
        invoice_email=details.invoice_email,
        ean=details.ean,
        personreference=details.personreference,
        buyer_order_number=details.buyer_order_number,
        accounting_cost=details.accounting_cost,
        terms_accepted_at=now,
        package_name=package.display_name(details.language),
        package_net_ore=package.price_net_ore,
        package_vat_percent=package.vat_percent,
        included_passes=package.included_passes,
        addons=_addon_snapshot(edition, details.addons, details.language),
        extra_passes=0,
    )
    db.session.add(booking)
    db.session.flush()
    _point_stand_at(stand.id, booking.id)
    set_committed_value(stand, "status", new_status)
    set_committed_value(stand, "booking_id", booking.id)
    booking.stand = stand
    booking.edition = edition

    record_audit(
        actor,
        "stand_booking.booked" if binding else "stand_booking.requested",
        "stand_booking",
        booking.id,
        reference=booking.reference,
        stand=stand.code,
        company=booking.company,
    )
    invoice = None
    if binding:
        invoice = _invoice_and_confirm(booking, token, now=now, actor=actor)
    else:
        _queue_booking_mail(
            "stand_request_received",
            booking,
            manage_url=public_url("stands.manage", token=token),
        )
    return BookedStand(booking=booking, token=token, invoice=invoice)


def _invoice_and_confirm(
    booking: StandBooking, token: str, *, now: datetime | None, actor: str
) -> Invoice:
    """Issue the booking's invoice and queue the confirmation with it and the manage link."""
    from conference.invoicing.services import invoice_filename, issue_stand_invoice

    invoice = issue_stand_invoice(booking, now=now, actor=actor)
    _queue_booking_mail(
        "stand_confirmation",
        booking,
        attachments=[invoice_attachment(invoice.id, invoice_filename(invoice))],
        manage_url=public_url("stands.manage", token=token),
        invoice=invoice,
    )
    return invoice


def _queue_booking_mail(
    template: str, booking: StandBooking, *, attachments: list[dict] = (), **context
):
    """Queue one of the stand e-mails to the booking's contact person, in its language."""
    message = queue_mail(
        template,
        booking.contact_email,
        template,
        booking.language,
        booking=booking,
        edition=booking.edition,
        stand=booking.stand,
        hall=get_hall(booking.edition),
        lines=booking_lines(booking),
        total=booking_total(booking),
        area=format_area(booking.stand.area_m2, booking.language),
        **context,
    )
    if attachments:
        message.attachments = [*message.attachments, *attachments]
    return message


# --- the organiser's decisions ----------------------------------------------------------


def _lock_booking(booking: StandBooking, *statuses: str) -> bool:
    """Lock the booking's row for the rest of the transaction if it has one of ``statuses``.

    A conditional no-op write: it waits for any other transaction changing the
    booking, then sees that one's result; the caller reloads the booking.
    """
    result = db.session.execute(
        update(StandBooking)
        .where(StandBooking.id == booking.id, StandBooking.status.in_(statuses))
        .values(status=StandBooking.status)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(booking)
    return result.rowcount == 1


def approve_booking(
    booking: StandBooking, *, actor: str, now: datetime | None = None
) -> BookedStand:
    """Approve a request: the stand is booked, the booking confirmed and invoiced.

    The confirmation carries the invoice and a new manage link (the link from
    the request e-mail stops working: only hashes are kept). Refused unless
    the booking is still a request.
    """
    now = now or utcnow()
    if not _lock_booking(booking, StandBookingStatus.REQUESTED):
        raise DomainError(_("Only a request can be approved; this booking has been decided."))
    result = db.session.execute(
        update(Stand)
        .where(Stand.id == booking.stand_id, Stand.booking_id == booking.id)
        .values(status=StandStatus.BOOKED)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise DomainError(_("The booking no longer holds its stand; look again."))
    db.session.refresh(booking.stand)
    token = new_token()
    booking.status = StandBookingStatus.CONFIRMED
    booking.decided_at = now
    booking.decided_by = actor
    booking.manage_token_hash = hash_token(token)
    db.session.flush()
    record_audit(
        actor,
        "stand_booking.approved",
        "stand_booking",
        booking.id,
        reference=booking.reference,
        stand=booking.stand.code,
    )
    invoice = _invoice_and_confirm(booking, token, now=now, actor=actor)
    return BookedStand(booking=booking, token=token, invoice=invoice)


def decline_booking(
    booking: StandBooking, *, actor: str, reason: str = "", now: datetime | None = None
) -> StandBooking:
    """Decline a request: the stand is free again and the company told (with the reason)."""
    now = now or utcnow()
    if not _lock_booking(booking, StandBookingStatus.REQUESTED):
        raise DomainError(_("Only a request can be declined; this booking has been decided."))
    _free_stand(booking.stand_id, booking.id)
    db.session.refresh(booking.stand)
    booking.status = StandBookingStatus.DECLINED
    booking.decided_at = now
    booking.decided_by = actor
    db.session.flush()
    record_audit(
        actor,
        "stand_booking.declined",
        "stand_booking",
        booking.id,
        reference=booking.reference,
        stand=booking.stand.code,
        reason=reason,
    )
    _queue_booking_mail("stand_declined", booking, reason=reason.strip())
    return booking


def move_booking(
    booking: StandBooking, new_stand: Stand, *, actor: str, reason: str = ""
) -> StandBooking:
    """Move a request or a confirmed booking to another free stand of the same edition.

    The new stand is taken with the same conditional write as a booking and
    the old one freed; the exhibitor is told. A confirmed booking has been
    invoiced for its package, so it moves only to a stand with the same
    package; a request takes the new stand's package. Raises StandTaken when
    the new stand is not free (nothing changes).
    """
    if not _lock_booking(booking, StandBookingStatus.REQUESTED, StandBookingStatus.CONFIRMED):
        raise DomainError(_("Only a request or a confirmed booking can be moved."))
    if new_stand.edition_id != booking.edition_id:
        raise NotFound(_("This stand does not exist."))
    if new_stand.id == booking.stand_id:
        raise DomainError(_("The booking already has this stand."))
    confirmed = booking.status == StandBookingStatus.CONFIRMED
    if confirmed and new_stand.package_id != booking.stand.package_id:
        raise DomainError(
            _(
                "A confirmed booking has been invoiced for its package: move it to a stand "
                "with the same package, or cancel it and book again."
            )
        )
    old_stand = booking.stand
    new_status = StandStatus.BOOKED if confirmed else StandStatus.RESERVED
    if not _take_stand(new_stand.id, new_status):
        raise StandTaken(
            _("Stand %(code)s is no longer free; choose another one.", code=new_stand.code)
        )
    # The old stand lets go before the new one points at the booking (booking_id is unique).
    _free_stand(old_stand.id, booking.id)
    _point_stand_at(new_stand.id, booking.id)
    db.session.refresh(old_stand)
    db.session.refresh(new_stand)
    booking.stand_id = new_stand.id
    booking.stand = new_stand
    if not confirmed:
        package = new_stand.package
        booking.package_name = package.display_name(booking.language)
        booking.package_net_ore = package.price_net_ore
        booking.package_vat_percent = package.vat_percent
        booking.included_passes = package.included_passes
    db.session.flush()
    record_audit(
        actor,
        "stand_booking.moved",
        "stand_booking",
        booking.id,
        reference=booking.reference,
        old_stand=old_stand.code,
        new_stand=new_stand.code,
        reason=reason,
    )
    _queue_booking_mail("stand_moved", booking, old_stand=old_stand, reason=reason.strip())
    if confirmed:
        # Their passes print the stand: each named person gets the pass again,
        # with the new stand (the QR code stays valid).
        for exhibitor_pass in booking.active_passes:
            _queue_pass_mail(exhibitor_pass, booking, moved_from=old_stand.code)
    return booking


@dataclass
class StandCancellation:
    """What cancelling did: the booking, its passes cancelled, the credit notes issued."""

    booking: StandBooking
    passes: list[ExhibitorPass]
    credit_notes: list[Invoice]


def cancel_booking(
    booking: StandBooking, *, actor: str, reason: str = "", now: datetime | None = None
) -> StandCancellation:
    """Cancel a request or a confirmed booking (organisers only).

    The stand is free again, every pass is cancelled (its QR refused at the
    door), what was invoiced and not yet credited gets credit notes, and the
    company is told with the credit notes attached.
    """
    now = now or utcnow()
    if not _lock_booking(booking, StandBookingStatus.REQUESTED, StandBookingStatus.CONFIRMED):
        raise DomainError(_("This booking is already cancelled or declined."))
    was_confirmed = booking.status == StandBookingStatus.CONFIRMED
    _free_stand(booking.stand_id, booking.id)
    db.session.refresh(booking.stand)
    passes = [p for p in booking.passes if p.status == ExhibitorPassStatus.ACTIVE]
    db.session.execute(
        update(ExhibitorPass)
        .where(
            ExhibitorPass.booking_id == booking.id,
            ExhibitorPass.status == ExhibitorPassStatus.ACTIVE,
        )
        .values(status=ExhibitorPassStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    for exhibitor_pass in passes:
        set_committed_value(exhibitor_pass, "status", ExhibitorPassStatus.CANCELLED)
    booking.status = StandBookingStatus.CANCELLED
    booking.decided_at = now
    booking.decided_by = actor
    db.session.flush()
    credit_notes: list[Invoice] = []
    if was_confirmed:
        from conference.invoicing.services import credit_stand_booking

        credit_notes = credit_stand_booking(booking, actor=actor, reason=reason, now=now)
    record_audit(
        actor,
        "stand_booking.cancelled",
        "stand_booking",
        booking.id,
        reference=booking.reference,
        stand=booking.stand.code,
        passes=[p.id for p in passes],
        credit_notes=[c.number for c in credit_notes],
        reason=reason,
    )
    from conference.invoicing.services import invoice_filename

    _queue_booking_mail(
        "stand_cancelled",
        booking,
        attachments=[invoice_attachment(c.id, invoice_filename(c)) for c in credit_notes],
        credit_notes=credit_notes,
        reason=reason.strip(),
    )
    return StandCancellation(booking=booking, passes=passes, credit_notes=credit_notes)


# --- the exhibitor's manage link ---------------------------------------------------------


def find_booking_by_token(token: str) -> StandBooking:
    """The booking a manage token opens; NotFound for anything else."""
    if not token or len(token) > 100:
        raise NotFound(_("This link is not valid."))
    booking = db.session.scalar(
        select(StandBooking)
        .where(StandBooking.manage_token_hash == hash_token(token))
        .options(
            joinedload(StandBooking.edition),
            joinedload(StandBooking.stand).joinedload(Stand.package),
            selectinload(StandBooking.passes),
        )
    )
    if booking is None:
        raise NotFound(_("This link is not valid."))
    return booking


def booking_documents(booking: StandBooking) -> list[Invoice]:
    """The booking's invoices and credit notes, oldest first."""
    from conference.invoicing.services import stand_booking_invoices

    return stand_booking_invoices(booking)


def staff_open(booking: StandBooking, now: datetime | None = None) -> bool:
    """Whether the exhibitor may still name staff and change names (before the deadline)."""
    hall = get_hall(booking.edition)
    deadline = hall.staff_deadline if hall is not None else None
    return deadline is None or (now or utcnow()) < deadline


@dataclass
class StaffDetails:
    """A member of the stand staff as the exhibitor types them."""

    name: str
    email: str
    job_title: str = ""


def check_staff(details: StaffDetails) -> dict[str, str]:
    """Field errors of a staff member's details, translated; strips the text in place."""
    errors: dict[str, str] = {}
    details.name = (details.name or "").strip()
    details.email = (details.email or "").strip()
    details.job_title = (details.job_title or "").strip()
    if not details.name:
        errors["name"] = _("This field is required.")
    elif len(details.name) > 200:
        errors["name"] = _too_long(200)
    problem = _email_error(details.email)
    if problem:
        errors["email"] = problem
    if len(details.job_title) > 200:
        errors["job_title"] = _too_long(200)
    return errors


def _refuse_unless_staff_may_change(booking: StandBooking, now: datetime) -> None:
    if not _lock_booking(booking, StandBookingStatus.CONFIRMED):
        raise DomainError(_("Stand staff can be named once the booking is confirmed."))
    if not staff_open(booking, now):
        hall = get_hall(booking.edition)
        raise StaffDeadlinePassed(
            _(
                "The deadline for naming the stand staff was %(deadline)s. "
                "Write to the organiser if something must change.",
                deadline=_when(hall.staff_deadline),
            )
        )


def _when(moment: datetime) -> str:
    from flask_babel import format_date, format_time

    return _(
        "%(date)s at %(time)s",
        date=format_date(moment, "long"),
        time=format_time(moment, "short"),
    )


def _queue_pass_mail(exhibitor_pass: ExhibitorPass, booking: StandBooking, **context) -> None:
    """The pass holder's ticket: the pass PDF with its QR code and the calendar file."""
    from conference.checkin.services import pass_ticket_pdf_attachment

    language = booking.language
    message = queue_mail(
        "stand_pass",
        exhibitor_pass.email,
        "stand_pass",
        language,
        attachments=[calendar_attachment(booking.edition, language)],
        booking=booking,
        edition=booking.edition,
        stand=booking.stand,
        exhibitor_pass=exhibitor_pass,
        **context,
    )
    message.attachments = [
        *message.attachments,
        pass_ticket_pdf_attachment(exhibitor_pass, language),
    ]


def name_staff(
    booking: StandBooking,
    details: StaffDetails,
    *,
    actor: str = "exhibitor",
    now: datetime | None = None,
) -> ExhibitorPass:
    """Name one more member of the stand staff, within the allowance, before the deadline.

    The person gets a ticket e-mail with the pass PDF and the calendar file.
    Raises InvalidStandBooking (field errors), StaffDeadlinePassed, or a
    DomainError when every pass is named; nothing is written then. Two
    names given at once for the last pass: the booking lock lets one in.
    """
    now = now or utcnow()
    errors = check_staff(details)
    if errors:
        raise InvalidStandBooking(errors)
    _refuse_unless_staff_may_change(booking, now)
    active = db.session.scalars(
        select(ExhibitorPass)
        .where(
            ExhibitorPass.booking_id == booking.id,
            ExhibitorPass.status == ExhibitorPassStatus.ACTIVE,
        )
        .execution_options(populate_existing=True)
    ).all()
    if len(active) >= booking.pass_allowance:
        raise DomainError(
            _(
                "All %(num)d passes are named. Buy an extra pass to name one more person.",
                num=booking.pass_allowance,
            )
        )
    exhibitor_pass = ExhibitorPass(
        booking_id=booking.id,
        edition_id=booking.edition_id,
        status=ExhibitorPassStatus.ACTIVE,
        name=details.name,
        email=details.email,
        job_title=details.job_title,
        ticket_code=new_ticket_code(),
        ticket_version=1,
        created_at=now,
    )
    db.session.add(exhibitor_pass)
    booking.passes.append(exhibitor_pass)
    db.session.flush()
    record_audit(
        actor,
        "exhibitor_pass.named",
        "exhibitor_pass",
        exhibitor_pass.id,
        booking=booking.reference,
    )
    _queue_pass_mail(exhibitor_pass, booking)
    return exhibitor_pass


def change_staff(
    booking: StandBooking,
    pass_id: int,
    details: StaffDetails,
    *,
    expected_version: int | None = None,
    actor: str = "exhibitor",
    now: datetime | None = None,
) -> ExhibitorPass:
    """Give a pass to another person (or correct the name) before the staff deadline.

    One conditional write on the pass rotates its ticket code and bumps its
    version, so the old QR is refused at the door; a pass checked in already
    cannot change hands. The new holder gets the ticket e-mail.
    """
    now = now or utcnow()
    errors = check_staff(details)
    if errors:
        raise InvalidStandBooking(errors)
    _refuse_unless_staff_may_change(booking, now)
    exhibitor_pass = db.session.get(ExhibitorPass, pass_id, populate_existing=True)
    if exhibitor_pass is None or exhibitor_pass.booking_id != booking.id:
        raise NotFound(_("This pass does not exist."))
    if exhibitor_pass.status != ExhibitorPassStatus.ACTIVE:
        raise DomainError(_("This pass is cancelled."))
    version = exhibitor_pass.ticket_version if expected_version is None else expected_version
    from conference.checkin.services import retired_code_data as _retired_code_data

    old_name = exhibitor_pass.name
    old_code = exhibitor_pass.ticket_code
    result = db.session.execute(
        update(ExhibitorPass)
        .where(
            ExhibitorPass.id == exhibitor_pass.id,
            ExhibitorPass.status == ExhibitorPassStatus.ACTIVE,
            ExhibitorPass.ticket_version == version,
            ExhibitorPass.checked_in_at.is_(None),
        )
        .values(
            name=details.name,
            email=details.email,
            job_title=details.job_title,
            ticket_code=new_ticket_code(),
            ticket_version=ExhibitorPass.ticket_version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(exhibitor_pass)
        if exhibitor_pass.checked_in_at is not None:
            raise DomainError(_("This pass has been used at the entrance and cannot change now."))
        raise DomainError(_("The pass has changed since you opened the page; look again."))
    db.session.refresh(exhibitor_pass)
    record_audit(
        actor,
        "exhibitor_pass.changed",
        "exhibitor_pass",
        exhibitor_pass.id,
        booking=booking.reference,
        old_name=old_name,
        new_name=exhibitor_pass.name,
        # So the door can say why the old QR no longer works.
        **_retired_code_data(old_code),
    )
    _queue_pass_mail(exhibitor_pass, booking)
    return exhibitor_pass


def extra_passes_left(booking: StandBooking) -> int:
    """How many more extra passes the booking may buy (the add-on's maximum, all told)."""
    addon = extra_pass_addon(booking.edition)
    if addon is None:
        return 0
    bought = sum(
        int(item["quantity"]) for item in booking.addons if item["kind"] == AddonKind.EXTRA_PASS
    )
    return max(addon.max_quantity - bought - booking.extra_passes, 0)


def buy_extra_passes(
    booking: StandBooking,
    quantity: int,
    *,
    actor: str = "exhibitor",
    now: datetime | None = None,
) -> Invoice:
    """Buy extra passes at the extra-pass add-on's price; invoiced at once and e-mailed.

    Raises a DomainError (nothing written) for a booking that is not
    confirmed, after the staff deadline, without an extra-pass add-on or
    beyond its maximum.
    """
    from conference.invoicing.services import invoice_filename, issue_extra_pass_invoice

    now = now or utcnow()
    _refuse_unless_staff_may_change(booking, now)
    addon = extra_pass_addon(booking.edition)
    if addon is None:
        raise DomainError(_("Extra passes are not for sale."))
    left = extra_passes_left(booking)
    if not isinstance(quantity, int) or quantity < 1 or quantity > left:
        if left == 0:
            raise InvalidStandBooking({"quantity": _("No more extra passes can be bought.")})
        raise InvalidStandBooking(
            {"quantity": _("Choose a number from %(min)d to %(max)d.", min=1, max=left)}
        )
    booking.extra_passes = booking.extra_passes + quantity
    db.session.flush()
    invoice = issue_extra_pass_invoice(
        booking, quantity, addon.price_net_ore, addon.vat_percent, now=now, actor=actor
    )
    record_audit(
        actor,
        "stand_booking.extra_passes",
        "stand_booking",
        booking.id,
        reference=booking.reference,
        quantity=quantity,
        invoice=invoice.number,
    )
    _queue_booking_mail(
        "stand_extra_passes",
        booking,
        attachments=[invoice_attachment(invoice.id, invoice_filename(invoice))],
        quantity=quantity,
        unit_net_ore=addon.price_net_ore,
        total_net_ore=addon.price_net_ore * quantity,
        total_gross_ore=gross_of(addon.price_net_ore * quantity, addon.vat_percent),
        invoice=invoice,
    )
    return invoice


# --- the company profile ---------------------------------------------------------------


@dataclass
class Logo:
    data: bytes
    content_type: str


def check_logo(data: bytes) -> Logo:
    """The upload as a logo if it really is a PNG or JPEG of at most MAX_LOGO_BYTES.

    Pillow reads the bytes (never the file name or the browser's content
    type): a text file named logo.png is refused. Raises InvalidStandBooking
    under ``logo``.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_LOGO_BYTES:
        raise InvalidStandBooking(
            {"logo": _("The logo is too large: at most %(size)s.", size="1 MB")}
        )
    not_an_image = InvalidStandBooking({"logo": _("The logo must be a PNG or JPEG image.")})
    if not data:
        raise not_an_image
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise not_an_image from None
    if kind not in LOGO_TYPES:
        raise not_an_image
    if width > MAX_LOGO_PIXELS or height > MAX_LOGO_PIXELS:
        raise InvalidStandBooking(
            {
                "logo": _(
                    "The logo is too large: at most %(max)d pixels on each side.",
                    max=MAX_LOGO_PIXELS,
                )
            }
        )
    return Logo(data=data, content_type=LOGO_TYPES[kind])


@dataclass
class ProfileDetails:
    description: str = ""
    website: str = ""
    #: The uploaded file's bytes, or None to keep the logo as it is.
    logo: bytes | None = None
    remove_logo: bool = False


def update_profile(
    booking: StandBooking, details: ProfileDetails, *, actor: str = "exhibitor"
) -> StandBooking:
    """The company's description, website and logo for the public exhibitor list.

    Raises InvalidStandBooking with every field error at once; nothing is
    written then.
    """
    errors: dict[str, str] = {}
    description = (details.description or "").strip().replace("\r\n", "\n")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        errors["description"] = _too_long(MAX_DESCRIPTION_LENGTH)
    website = (details.website or "").strip()
    if website and not re.match(r"^https?://", website, re.IGNORECASE):
        website = "https://" + website
    if website and (len(website) > 300 or not _WEBSITE.match(website)):
        errors["website"] = (
            _too_long(300) if len(website) > 300 else _("Enter a web address (https://…).")
        )
    logo = None
    if details.logo:
        try:
            logo = check_logo(details.logo)
        except InvalidStandBooking as error:
            errors.update(error.errors)
    if errors:
        raise InvalidStandBooking(errors)
    if booking.status in (StandBookingStatus.CANCELLED, StandBookingStatus.DECLINED):
        raise DomainError(_("This booking is cancelled."))
    booking.description = description
    booking.website = website
    if logo is not None:
        booking.logo = logo.data
        booking.logo_type = logo.content_type
    elif details.remove_logo:
        booking.logo = None
        booking.logo_type = None
    db.session.flush()
    record_audit(
        actor,
        "stand_booking.profile",
        "stand_booking",
        booking.id,
        reference=booking.reference,
        logo=booking.logo_type,
    )
    return booking


def public_exhibitors(edition: Edition) -> list[StandBooking]:
    """The confirmed bookings, for the public exhibitor list, by company name."""
    return list(
        db.session.scalars(
            select(StandBooking)
            .where(
                StandBooking.edition_id == edition.id,
                StandBooking.status == StandBookingStatus.CONFIRMED,
            )
            .options(joinedload(StandBooking.stand))
            .order_by(StandBooking.company, StandBooking.id)
        )
    )


def public_logo(edition: Edition, booking_id: int) -> Logo:
    """The logo of a confirmed exhibitor of the edition, or NotFound."""
    booking = db.session.get(StandBooking, booking_id)
    if (
        booking is None
        or booking.edition_id != edition.id
        or booking.status != StandBookingStatus.CONFIRMED
        or not booking.logo
    ):
        raise NotFound(_("This logo does not exist."))
    return Logo(data=booking.logo, content_type=booking.logo_type or "application/octet-stream")


# --- what a booking costs ---------------------------------------------------------------


@dataclass(frozen=True)
class BookingLine:
    description: str
    quantity: int
    unit_net_ore: int
    vat_percent: int

    @property
    def net_ore(self) -> int:
        return self.unit_net_ore * self.quantity


def booking_lines(booking: StandBooking) -> list[BookingLine]:
    """The stand with its package and each add-on, at the prices of the booking."""
    lines = [
        BookingLine(
            description=_(
                "Stand %(code)s, %(package)s", code=booking.stand.code, package=booking.package_name
            ),
            quantity=1,
            unit_net_ore=booking.package_net_ore,
            vat_percent=booking.package_vat_percent,
        )
    ]
    for item in booking.addons:
        lines.append(
            BookingLine(
                description=item["name"],
                quantity=int(item["quantity"]),
                unit_net_ore=int(item["unit_net_ore"]),
                vat_percent=int(item["vat_percent"]),
            )
        )
    return lines


def booking_total(booking: StandBooking) -> Amounts:
    """Net and VAT of the booking as booked (VAT per rate on its total, as on the invoice)."""
    by_rate: dict[int, int] = {}
    for line in booking_lines(booking):
        by_rate[line.vat_percent] = by_rate.get(line.vat_percent, 0) + line.net_ore
    return Amounts(
        net_ore=sum(by_rate.values()),
        vat_ore=sum(vat_of(net, rate) for rate, net in by_rate.items()),
    )


def format_dimensions(width_cm: int, depth_cm: int, language: str) -> str:
    """ "3 × 2,5 m" in Danish, "3 × 2.5 m" in English."""
    locale = babel_locale(language)
    width = format_decimal(width_cm / 100, "#,##0.##", locale=locale)
    depth = format_decimal(depth_cm / 100, "#,##0.##", locale=locale)
    return f"{width} × {depth} m"
