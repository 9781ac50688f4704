"""Issuing invoices and credit notes, and recording what was paid.

Numbers are taken from a counter row (``invoice_number_series``) in the same
transaction that inserts the document: the row stays locked until commit, so
numbers are unique and, because a rolled-back transaction also rolls back its
counter, gap-free. Take the number last, just before commit, so the lock is
held briefly.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conference.core.db import db, insert_new, utcnow
from conference.core.errors import DomainError
from conference.core.i18n import babel_locale
from conference.core.models import AuditEvent
from conference.core.money import vat_of
from conference.core.services import (
    new_audit_event,
    record_audit,
    write_audit,
    write_audit_events,
)
from conference.events.models import Edition
from conference.events.services import copenhagen_date
from conference.invoicing.models import DocumentKind, Invoice, InvoicePayment, NumberSeries
from conference.registration.models import Attendee, Order, OrganisationType
from conference.stands.models import StandBooking


@dataclass(frozen=True)
class InvoiceLine:
    """One line as printed: description, quantity and unit price without VAT."""

    description: str
    quantity: int
    unit_net_ore: int
    vat_percent: int

    @property
    def net_ore(self) -> int:
        return self.quantity * self.unit_net_ore

    def to_json(self) -> dict:
        return {
            "description": self.description,
            "quantity": self.quantity,
            "unit_net_ore": self.unit_net_ore,
            "net_ore": self.net_ore,
            "vat_percent": self.vat_percent,
        }


@dataclass(frozen=True)
class Totals:
    breakdown: list[dict]
    net_ore: int
    vat_ore: int

    @property
    def total_ore(self) -> int:
        return self.net_ore + self.vat_ore


def document_totals(
    lines: list[InvoiceLine], *, earlier: dict[int, tuple[int, int]] | None = None
) -> Totals:
    """Net per VAT rate, VAT computed once per rate on that total (not per line).

    ``earlier``: per rate, the (net, VAT) that earlier credit notes of the same
    invoice took back. A credit note's VAT is then the VAT of everything credited
    so far less what was credited before, so partial credit notes add up to the
    invoice's VAT to the øre (each rounded on its own, four notes of 999,99 kr.
    would take back 1 øre more than the invoice charged).
    """
    earlier = earlier or {}
    per_rate: dict[int, int] = defaultdict(int)
    for line in lines:
        per_rate[line.vat_percent] += line.net_ore
    breakdown = []
    for rate, net in sorted(per_rate.items(), reverse=True):
        net_before, vat_before = earlier.get(rate, (0, 0))
        vat = vat_of(net_before + net, rate) - vat_before
        breakdown.append({"vat_percent": rate, "net_ore": net, "vat_ore": vat})
    return Totals(
        breakdown=breakdown,
        net_ore=sum(b["net_ore"] for b in breakdown),
        vat_ore=sum(b["vat_ore"] for b in breakdown),
    )


# --- numbering --------------------------------------------------------------------


def series_prefix(kind: DocumentKind, issued_on: date) -> str:
    key = "INVOICE_NUMBER_PREFIX" if kind is DocumentKind.INVOICE else "CREDIT_NOTE_NUMBER_PREFIX"
    return current_app.config[key].format(year=issued_on.year)


_series = NumberSeries.__table__.c
# Built once, on the table, not the ORM class: this runs while a registration
# holds the quota lock, and building the statement cost more than running it.
_NEXT_NUMBER = (
    update(NumberSeries.__table__)
    .where(_series.prefix == bindparam("series_prefix"))
    .values(last_number=_series.last_number + 1)
    .returning(_series.last_number)
)


def take_number(prefix: str) -> int:
    """The next number of a series, locked until the caller's transaction ends."""
    number = db.session.execute(_NEXT_NUMBER, {"series_prefix": prefix}).scalar()
    if number is not None:
        return number
    # First number of a new series: create the row; a concurrent creator wins
    # harmlessly (DO NOTHING) and both then step the same row.
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(
        insert(NumberSeries).values(prefix=prefix, last_number=0).on_conflict_do_nothing()
    )
    return db.session.execute(_NEXT_NUMBER, {"series_prefix": prefix}).scalar_one()


def format_number(prefix: str, sequence: int) -> str:
    return f"{prefix}{sequence:05d}"


# --- issuing ------------------------------------------------------------------------


def seller_snapshot(edition: Edition) -> dict:
    """The seller as printed: name, address split into street and postcode/city, CVR, bank."""
    street, postcode, city = _split_address(edition.seller_address)
    return {
        "name": edition.seller_name,
        "street": street,
        "postcode": postcode,
        "city": city,
        "country": "DK",
        "cvr": edition.seller_cvr,
        "email": edition.seller_email,
        "bank_reg": edition.seller_bank_reg,
        "bank_account": edition.seller_bank_account,
        "iban": edition.seller_iban.replace(" ", ""),
        "bic": edition.seller_bic,
    }


def _split_address(address: str) -> tuple[str, str, str]:
    """("Weidekampsgade 10", "2300", "København S") from the one-line form."""
    street, _, rest = address.rpartition(",")
    match = re.match(r"\s*(\d{4})\s+(.+)", rest)
    if street and match:
        return street.strip(), match.group(1), match.group(2).strip()
    return address.strip(), "", ""


def _payment_days(is_public: bool) -> int:
    days = current_app.config["INVOICE_PAYMENT_DAYS"]
    if is_public:
        # Public buyers: never longer than 30 days.
        days = min(days, 30)
    return days


def payment_days(order: Order) -> int:
    return _payment_days(OrganisationType(order.organisation_type).is_public)


@dataclass(frozen=True)
class Buyer:
    """Who a document is issued to, and what it belongs to: an order or a stand booking.

    Built from either, so one ``_draft_document`` prints both alike.
    """

    edition: Edition
    language: str
    payment_method: str
    our_reference: str
    name: str
    address: str
    postcode: str
    city: str
    contact: str
    email: str
    cvr: str | None
    ean: str | None
    is_public: bool
    reference: str | None
    order_number: str | None
    accounting_cost: str | None
    order_id: int | None = None
    stand_booking_id: int | None = None

    @classmethod
    def of_order(cls, order: Order) -> Buyer:
        return cls(
            edition=order.edition,
            language=order.language,
            payment_method=order.payment_method,
            our_reference=order.reference,
            name=order.invoice_organisation,
            address=order.invoice_address,
            postcode=order.invoice_postcode,
            city=order.invoice_city,
            contact=order.booker_name,
            email=order.booker_email,
            cvr=order.cvr,
            ean=order.ean,
            is_public=OrganisationType(order.organisation_type).is_public,
            reference=order.personreference,
            order_number=order.buyer_order_number,
            accounting_cost=order.accounting_cost,
            order_id=order.id,
        )

    @classmethod
    def of_booking(cls, booking: StandBooking) -> Buyer:
        # A booking names no organisation type: an EAN is what makes it a
        # public buyer (e-invoice through NemHandel, at most 30 days).
        ean = (booking.ean or "").strip() or None
        return cls(
            edition=booking.edition,
            language=booking.language,
            payment_method="invoice",
            our_reference=booking.reference,
            name=booking.company,
            address=booking.address,
            postcode=booking.postcode,
            city=booking.city,
            contact=booking.contact_name,
            email=booking.invoice_email,
            cvr=booking.cvr or None,
            ean=ean,
            is_public=ean is not None,
            reference=booking.personreference or None,
            order_number=booking.buyer_order_number or None,
            accounting_cost=booking.accounting_cost or None,
            stand_booking_id=booking.id,
        )


def order_lines(order: Order, attendees: list[Attendee]) -> list[InvoiceLine]:
    """One line per ticket type and price, in the order's language."""
    edition = order.edition
    groups: dict[tuple[int, int, int], int] = defaultdict(int)
    names: dict[tuple[int, int, int], object] = {}
    for attendee in attendees:
        key = (attendee.ticket_type_id, attendee.unit_price_net_ore, attendee.vat_percent)
        groups[key] += 1
        names[key] = attendee.ticket_type
    lines = []
    with force_locale(babel_locale(order.language)):
        day = format_date(edition.starts_at, "long")
        for key, quantity in groups.items():
            ticket_type = names[key]
            lines.append(
                InvoiceLine(
                    description=_(
                        "%(event)s, %(day)s: %(ticket)s",
                        event=edition.display_name(order.language),
                        day=day,
                        ticket=ticket_type.display_name(order.language),
                    ),
                    quantity=quantity,
                    unit_net_ore=key[1],
                    vat_percent=key[2],
                )
            )
    return lines


def _participants_note(order: Order, attendees: list[Attendee]) -> str:
    with force_locale(babel_locale(order.language)):
        return _("Participants: %(names)s", names=", ".join(a.name for a in attendees))


def _new_document(
    kind: DocumentKind,
    buyer: Buyer,
    lines: list[InvoiceLine],
    *,
    now: datetime,
    note: str,
    credited: Invoice | None = None,
) -> Invoice:
    document = _draft_document(kind, buyer, lines, now=now, note=note, credited=credited)
    return _number_and_write(document)


def _draft_document(
    kind: DocumentKind,
    buyer: Buyer,
    lines: list[InvoiceLine],
    *,
    now: datetime,
    note: str,
    credited: Invoice | None = None,
) -> Invoice:
    """A document with everything printed on it but its number; nothing is written."""
    edition = buyer.edition
    totals = document_totals(lines, earlier=_credited_by_rate(credited) if credited else None)
    issued_on = copenhagen_date(now)
    document = Invoice(
        kind=kind,
        issued_at=now,
        issued_on=issued_on,
        supplied_on=copenhagen_date(edition.starts_at),
        due_on=(
            issued_on + timedelta(days=_payment_days(buyer.is_public))
            if kind is DocumentKind.INVOICE
            else None
        ),
        language=buyer.language,
        payment_method=buyer.payment_method,
        edition_id=edition.id,
        order_id=buyer.order_id,
        stand_booking_id=buyer.stand_booking_id,
        credited_invoice_id=credited.id if credited else None,
        our_reference=buyer.our_reference,
        seller=seller_snapshot(edition),
        buyer_name=buyer.name,
        buyer_address=buyer.address,
        buyer_postcode=buyer.postcode,
        buyer_city=buyer.city,
        buyer_contact=buyer.contact,
        buyer_email=buyer.email,
        buyer_cvr=buyer.cvr,
        buyer_ean=buyer.ean,
        buyer_is_public=buyer.is_public,
        buyer_reference=buyer.reference,
        buyer_order_number=buyer.order_number,
        buyer_accounting_cost=buyer.accounting_cost,
        lines=[line.to_json() for line in lines],
        vat_breakdown=totals.breakdown,
        net_ore=totals.net_ore,
        vat_ore=totals.vat_ore,
        total_ore=totals.total_ore,
        note=note,
        series_prefix=series_prefix(kind, issued_on),
    )
    return document


def _number_and_write(document: Invoice) -> Invoice:
    # Last, so the series row is locked only from here to the commit.
    document.sequence = take_number(document.series_prefix)
    document.number = format_number(document.series_prefix, document.sequence)
    # One INSERT, not the unit of work: invoice orders are issued under the
    # quota and series locks in a registration rush (see place_order).
    insert_new([document])
    db.session.add(document)
    return document


def issue_invoice(order: Order, *, now: datetime | None = None, actor: str = "system") -> Invoice:
    """Issue the invoice for an order's confirmed places, in the caller's transaction.

    Card orders: call after the payment is recorded; the invoice is marked paid.
    Free orders (speakers, press) get no invoice: nothing was sold.
    """
    return issue_drafted_invoice(draft_invoice(order, now=now), actor=actor)


def draft_invoice(order: Order, *, now: datetime | None = None) -> Invoice:
    """The invoice ``issue_invoice`` would issue, but without its number; nothing is written.

    For a caller that prepares the invoice before it takes a lock and issues
    it after with ``issue_drafted_invoice`` (see ``place_order``).
    """
    attendees = order.active_attendees
    return _draft_document(
        DocumentKind.INVOICE,
        Buyer.of_order(order),
        order_lines(order, attendees),
        now=now or utcnow(),
        note=_participants_note(order, attendees),
    )


def issue_drafted_invoice(
    invoice: Invoice, *, actor: str = "system", audit_events: Sequence[AuditEvent] = ()
) -> Invoice:
    """Number and write an invoice from ``draft_invoice``, in the caller's transaction.

    ``audit_events``: the caller's own records of the change, not written yet
    (``new_audit_event``), written in one INSERT with the invoice's.
    """
    _number_and_write(invoice)
    write_audit_events(
        [
            *audit_events,
            new_audit_event(actor, "invoice.issued", "invoice", invoice.id, number=invoice.number),
        ]
    )
    return invoice


class NothingToCredit(DomainError):
    """The credit note would take back more than the invoice still holds."""


def issue_credit_note(
    invoice: Invoice,
    lines: list[InvoiceLine],
    *,
    order: Order | None = None,
    booking: StandBooking | None = None,
    reason: str,
    now: datetime | None = None,
    actor: str = "system",
) -> Invoice:
    """A credit note taking back ``lines`` of an invoice (all of it or a part).

    The buyer is the invoice's: its ``order`` or its stand ``booking`` (one of them).
    """
    if (order is None) == (booking is None):
        raise ValueError("a credit note is for an order or for a stand booking")
    if invoice.is_credit_note:
        raise DomainError("a credit note cannot be credited")
    already = credited_total(invoice)
    asked = document_totals(lines, earlier=_credited_by_rate(invoice)).total_ore
    if asked <= 0 or already + asked > invoice.total_ore:
        raise NothingToCredit(
            _("Nothing left to credit on invoice %(number)s.", number=invoice.number)
        )
    with force_locale(babel_locale(invoice.language)):
        note = _(
            "Credit note for invoice %(number)s. %(reason)s", number=invoice.number, reason=reason
        ).strip()
    buyer = Buyer.of_order(order) if order is not None else Buyer.of_booking(booking)
    credit_note = _new_document(
        DocumentKind.CREDIT_NOTE, buyer, lines, now=now or utcnow(), note=note, credited=invoice
    )
    record_audit(
        actor,
        "credit_note.issued",
        "invoice",
        credit_note.id,
        number=credit_note.number,
        credits=invoice.number,
    )
    return credit_note


def credit_lines(
    invoice: Invoice, order: Order, attendees: list[Attendee], *, whole: bool
) -> list[InvoiceLine]:
    """The lines that take back ``attendees``' places, priced as they were invoiced.

    ``whole``: the last places of the order go, so the credit note takes back
    everything the invoice still holds (earlier credit notes subtracted).
    """
    if whole and not credited_total(invoice):
        return [
            InvoiceLine(
                line["description"], line["quantity"], line["unit_net_ore"], line["vat_percent"]
            )
            for line in invoice.lines
        ]
    lines = order_lines(order, attendees)
    # Same wording as the invoice's line for the same price, so they pair up.
    printed = {(line["unit_net_ore"], line["vat_percent"]): line for line in invoice.lines}
    return [
        InvoiceLine(
            printed.get((line.unit_net_ore, line.vat_percent), {}).get(
                "description", line.description
            ),
            line.quantity,
            line.unit_net_ore,
            line.vat_percent,
        )
        for line in lines
    ]


def _credited_by_rate(invoice: Invoice) -> dict[int, tuple[int, int]]:
    """Per VAT rate, the (net, VAT) that the invoice's credit notes have taken back."""
    credited: dict[int, tuple[int, int]] = {}
    breakdowns = db.session.scalars(
        select(Invoice.vat_breakdown).where(Invoice.credited_invoice_id == invoice.id)
    )
    for breakdown in breakdowns:
        for item in breakdown:
            net, vat = credited.get(item["vat_percent"], (0, 0))
            credited[item["vat_percent"]] = (net + item["net_ore"], vat + item["vat_ore"])
    return credited


def credited_total(invoice: Invoice) -> int:
    """How much of an invoice's total credit notes have taken back, in øre."""
    notes = db.session.scalars(
        select(Invoice.total_ore).where(Invoice.credited_invoice_id == invoice.id)
    ).all()
    return sum(notes)


def issue_place_invoice(
    order: Order, attendees: list[Attendee], *, now: datetime | None = None, actor: str
) -> Invoice:
    """An invoice of its own for some places of an order, at their prices now.

    For a place an organiser moved to a ticket type at another price: the old
    place is credited on the order's invoice and the new one billed here, so no
    issued document is ever changed. The caller points the places at it
    (``Attendee.invoice_id``).
    """
    invoice = _new_document(
        DocumentKind.INVOICE,
        Buyer.of_order(order),
        order_lines(order, attendees),
        now=now or utcnow(),
        note=_participants_note(order, attendees),
    )
    write_audit(actor, "invoice.issued", "invoice", invoice.id, number=invoice.number)
    return invoice


def place_invoice(attendee: Attendee) -> Invoice | None:
    """The invoice billing a place: its own (after a move), else its order's, if any."""
    if attendee.invoice_id is not None:
        return db.session.get(Invoice, attendee.invoice_id)
    return invoice_for_order(attendee.order)


def invoice_filename(invoice: Invoice, extension: str = "pdf") -> str:
    """ "Faktura-2027-00001.pdf", "Credit-note-K2027-00001.xml": in the document's language.

    A drafted invoice, not numbered yet, is named after the order: "Faktura-DT7K2M9Q.pdf".
    """
    with force_locale(babel_locale(invoice.language)):
        label = _("Credit-note") if invoice.is_credit_note else _("Invoice")
    return f"{label}-{invoice.number or invoice.our_reference}.{extension}"


def invoice_for_order(order: Order) -> Invoice | None:
    """The order's invoice (not its credit notes), if one was issued."""
    # The first: later invoices of an order bill single places an organiser moved
    # to another price (see issue_place_invoice).
    return db.session.scalar(
        select(Invoice)
        .where(Invoice.order_id == order.id, Invoice.kind == DocumentKind.INVOICE)
        .order_by(Invoice.id)
        .limit(1)
    )


# --- stand bookings ---------------------------------------------------------------


def _area_text(booking: StandBooking) -> str:
    """ "9" or "10,5" (Danish) for the stand's area in m²."""
    from flask_babel import format_decimal

    return format_decimal(round(booking.stand.area_m2, 2), format="#,##0.##")


def stand_booking_lines(booking: StandBooking) -> list[InvoiceLine]:
    """The stand with its package, then one line per add-on, in the booking's language.

    Prices come from the booking's snapshot (the package and add-ons as sold),
    never from today's price list.
    """
    edition = booking.edition
    with force_locale(babel_locale(booking.language)):
        day = format_date(edition.starts_at, "long")
        lines = [
            InvoiceLine(
                description=_(
                    "%(event)s, %(day)s: Stand %(code)s, %(area)s m², %(package)s",
                    event=edition.display_name(booking.language),
                    day=day,
                    code=booking.stand.code,
                    area=_area_text(booking),
                    package=booking.package_name,
                ),
                quantity=1,
                unit_net_ore=booking.package_net_ore,
                vat_percent=booking.package_vat_percent,
            )
        ]
        for item in booking.addons:
            quantity = int(item["quantity"])
            if quantity <= 0:
                continue
            lines.append(
                InvoiceLine(
                    description=_(
                        "Stand %(code)s: %(addon)s", code=booking.stand.code, addon=item["name"]
                    ),
                    quantity=quantity,
                    unit_net_ore=int(item["unit_net_ore"]),
                    vat_percent=int(item["vat_percent"]),
                )
            )
    return lines


def _exhibitor_note(booking: StandBooking) -> str:
    with force_locale(babel_locale(booking.language)):
        return _(
            "Exhibitor: %(company)s, stand %(code)s.",
            company=booking.company,
            code=booking.stand.code,
        )


def _issue_for_booking(
    booking: StandBooking, lines: list[InvoiceLine], *, now: datetime | None, actor: str
) -> Invoice:
    invoice = _new_document(
        DocumentKind.INVOICE,
        Buyer.of_booking(booking),
        lines,
        now=now or utcnow(),
        note=_exhibitor_note(booking),
    )
    write_audit(
        actor,
        "invoice.issued",
        "invoice",
        invoice.id,
        number=invoice.number,
        stand_booking=booking.reference,
    )
    return invoice


def issue_stand_invoice(
    booking: StandBooking, *, now: datetime | None = None, actor: str = "system"
) -> Invoice:
    """Issue the invoice for a stand booking (stand and package, add-ons), in the caller's
    transaction, from the same gap-free series as order invoices.

    The buyer is the booking's company; with an EAN it is a public buyer (Peppol
    to its location number, at most 30 days to pay). The PDF is rendered when
    first needed (``stored_pdf``), as for orders: attach it to a mail with
    ``invoice_attachment(invoice.id, invoice_filename(invoice))``.
    """
    return _issue_for_booking(booking, stand_booking_lines(booking), now=now, actor=actor)


def issue_extra_pass_invoice(
    booking: StandBooking,
    quantity: int,
    unit_net_ore: int,
    vat_percent: int,
    *,
    now: datetime | None = None,
    actor: str = "system",
) -> Invoice:
    """Invoice ``quantity`` extra exhibitor passes bought later from the manage page."""
    if quantity <= 0:
        raise DomainError(_("Choose at least one pass."))
    with force_locale(babel_locale(booking.language)):
        description = _(
            "%(event)s, %(day)s: Extra exhibitor pass, stand %(code)s",
            event=booking.edition.display_name(booking.language),
            day=format_date(booking.edition.starts_at, "long"),
            code=booking.stand.code,
        )
    line = InvoiceLine(description, quantity, unit_net_ore, vat_percent)
    return _issue_for_booking(booking, [line], now=now, actor=actor)


def stand_booking_invoices(booking: StandBooking) -> list[Invoice]:
    """A stand booking's invoices and credit notes, oldest first."""
    return list(
        db.session.scalars(
            select(Invoice).where(Invoice.stand_booking_id == booking.id).order_by(Invoice.id)
        )
    )


def _uncredited_lines(invoice: Invoice) -> list[InvoiceLine]:
    """The invoice's lines less what its credit notes have already taken back.

    Credit notes of a booking copy the invoice's lines, so a line is matched by
    its description and price.
    """
    taken: dict[tuple[str, int, int], int] = defaultdict(int)
    for lines in db.session.scalars(
        select(Invoice.lines).where(Invoice.credited_invoice_id == invoice.id)
    ):
        for line in lines:
            key = (line["description"], line["unit_net_ore"], line["vat_percent"])
            taken[key] += line["quantity"]
    remaining = []
    for line in invoice.lines:
        key = (line["description"], line["unit_net_ore"], line["vat_percent"])
        quantity = line["quantity"] - taken[key]
        taken[key] = max(-quantity, 0)
        if quantity > 0:
            remaining.append(InvoiceLine(key[0], quantity, key[1], key[2]))
    return remaining


def credit_stand_booking(
    booking: StandBooking, *, actor: str, reason: str = "", now: datetime | None = None
) -> list[Invoice]:
    """Credit notes for whatever the booking's invoices still hold, in the caller's transaction.

    One credit note per invoice with something left (the stand invoice, and any
    later extra-pass invoices); an invoice credited in full already is skipped,
    so calling this twice issues nothing the second time. Returns the new notes.
    """
    notes = []
    for invoice in stand_booking_invoices(booking):
        if invoice.is_credit_note:
            continue
        lines = _uncredited_lines(invoice)
        if not lines or credited_total(invoice) >= invoice.total_ore:
            continue
        notes.append(
            issue_credit_note(invoice, lines, booking=booking, reason=reason, now=now, actor=actor)
        )
    return notes


# --- payments -----------------------------------------------------------------------


class InvalidPayment(DomainError):
    pass


def record_payment(
    invoice: Invoice,
    *,
    paid_on: date,
    amount_ore: int,
    method: str = "bank",
    actor: str,
    now: datetime | None = None,
) -> InvoicePayment:
    """Note money received against an invoice; a fully paid invoice marks its order paid.

    ``now`` is the moment the money is noted (the caller's clock, so that a
    late-evening card payment handled by a job is judged by the job's clock).
    """
    if invoice.is_credit_note:
        raise InvalidPayment(_("A credit note is not paid."))
    if amount_ore <= 0:
        raise InvalidPayment(_("The amount must be more than 0."))
    if paid_on > copenhagen_date(now):
        raise InvalidPayment(_("The payment date cannot be in the future."))
    payment = InvoicePayment(
        invoice=invoice,
        paid_on=paid_on,
        amount_ore=amount_ore,
        method=method,
        recorded_by=actor,
    )
    db.session.add(payment)
    db.session.flush()
    if invoice.order_id is not None and amount_due(invoice) <= 0:
        from conference.registration.models import PaymentStatus

        db.session.execute(
            update(Order)
            .where(Order.id == invoice.order_id)
            .values(payment_status=PaymentStatus.PAID)
        )
    record_audit(
        actor, "invoice.paid", "invoice", invoice.id, number=invoice.number, amount_ore=amount_ore
    )
    return payment


def paid_total(invoice: Invoice) -> int:
    return sum(p.amount_ore for p in invoice.payments)


def amount_due(invoice: Invoice) -> int:
    """What the buyer still owes: total less payments and credit notes."""
    return invoice.total_ore - paid_total(invoice) - credited_total(invoice)


class DocumentStatus:
    PAID = "paid"
    UNPAID = "unpaid"
    OVERDUE = "overdue"
    CREDITED = "credited"
    CREDIT_NOTE = "credit_note"


def document_status(invoice: Invoice, today: date | None = None) -> str:
    """paid, unpaid, overdue or credited (in full); credit notes are just that."""
    if invoice.is_credit_note:
        return DocumentStatus.CREDIT_NOTE
    credited = credited_total(invoice)
    if credited >= invoice.total_ore:
        return DocumentStatus.CREDITED
    if paid_total(invoice) + credited >= invoice.total_ore:
        return DocumentStatus.PAID
    today = today or copenhagen_date()
    if invoice.due_on is not None and invoice.due_on < today:
        return DocumentStatus.OVERDUE
    return DocumentStatus.UNPAID
