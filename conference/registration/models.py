"""An order (one booker, 1..20 attendees) and the waiting list."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.core.db import db, utcnow
from conference.events.models import Edition, TicketType


class OrganisationType(enum.StrEnum):
    MUNICIPALITY = "municipality"
    REGION = "region"
    STATE = "state"
    PRIVATE = "private"

    @property
    def is_public(self) -> bool:
        return self is not OrganisationType.PRIVATE


class OrderStatus(enum.StrEnum):
    #: Card orders: places held while the booker pays in Stripe Checkout.
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    #: The hold ran out (or the booker cancelled in Checkout) before payment.
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PaymentMethod(enum.StrEnum):
    INVOICE = "invoice"
    CARD = "card"


class PaymentStatus(enum.StrEnum):
    AWAITING_INVOICE = "awaiting_invoice"  # orders placed before invoices were issued at once
    FREE = "free"  # nothing to pay (speakers, press)
    INVOICED = "invoiced"  # invoice issued, not paid yet
    AWAITING_PAYMENT = "awaiting_payment"  # card: Checkout open
    PAID = "paid"
    REFUNDED = "refunded"


class AttendeeStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class WaitingStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Order(db.Model):
    """A binding registration of one or more colleagues, made by a booker."""

    __tablename__ = "registration_order"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.CONFIRMED)
    payment_method: Mapped[str] = mapped_column(String(20), default=PaymentMethod.INVOICE)
    payment_status: Mapped[str] = mapped_column(String(30), default=PaymentStatus.AWAITING_INVOICE)
    language: Mapped[str] = mapped_column(String(5), default="da")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)

    booker_name: Mapped[str] = mapped_column(String(200))
    booker_email: Mapped[str] = mapped_column(String(254), index=True)
    booker_phone: Mapped[str] = mapped_column(String(40))
    organisation: Mapped[str] = mapped_column(String(200), index=True)
    organisation_type: Mapped[str] = mapped_column(String(20))

    invoice_organisation: Mapped[str] = mapped_column(String(200))
    invoice_address: Mapped[str] = mapped_column(String(200))
    invoice_postcode: Mapped[str] = mapped_column(String(10))
    invoice_city: Mapped[str] = mapped_column(String(100))
    cvr: Mapped[str | None] = mapped_column(String(8))
    ean: Mapped[str | None] = mapped_column(String(13))
    personreference: Mapped[str | None] = mapped_column(String(100))
    buyer_order_number: Mapped[str | None] = mapped_column(String(100))
    #: Kontostreng: where the buyer books the cost (Peppol AccountingCost).
    accounting_cost: Mapped[str | None] = mapped_column(String(100))
    #: Card orders: when the held places go back if payment has not arrived.
    hold_expires_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    #: The access code the places were booked with: one use per place, given
    #: back with each place that goes back (hold expired, place cancelled).
    access_code_id: Mapped[int | None] = mapped_column(ForeignKey("access_code.id"))

    #: Sum of the attendees' prices without VAT when the order was placed.
    total_net_ore: Mapped[int] = mapped_column(Integer, default=0)
    total_vat_ore: Mapped[int] = mapped_column(Integer, default=0)

    edition: Mapped[Edition] = relationship()
    attendees: Mapped[list[Attendee]] = relationship(back_populates="order", order_by="Attendee.id")

    @property
    def total_gross_ore(self) -> int:
        return self.total_net_ore + self.total_vat_ore

    @property
    def active_attendees(self) -> list[Attendee]:
        return [a for a in self.attendees if a.status == AttendeeStatus.CONFIRMED]


class Attendee(db.Model):
    """One place in an order, held by a named person."""

    __tablename__ = "attendee"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("registration_order.id"), index=True)
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_type.id"))
    status: Mapped[str] = mapped_column(String(20), default=AttendeeStatus.CONFIRMED)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    job_title: Mapped[str] = mapped_column(String(200), default="")
    dietary: Mapped[str] = mapped_column(String(300), default="")
    unit_price_net_ore: Mapped[int] = mapped_column(Integer)
    vat_percent: Mapped[int] = mapped_column(Integer)
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: What the ticket's QR identifies (signed); rotated when the place changes hands.
    ticket_code: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Raised by every transfer, which is a conditional write on it (see transfers).
    ticket_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: Set once, by a conditional write, when the holder is checked in at the door.
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime)
    checked_in_by: Mapped[str | None] = mapped_column(String(80))
    #: The invoice billing this place when it is not the order's own: an organiser
    #: moved it to a ticket type at another price (credit note, then an invoice of
    #: its own). None: the order's invoice, if it has one.
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))

    order: Mapped[Order] = relationship(back_populates="attendees")
    ticket_type: Mapped[TicketType] = relationship()


class WaitingListEntry(db.Model):
    """A whole group waiting for places; ``payload`` keeps the form as submitted."""

    __tablename__ = "waiting_list_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_type.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=WaitingStatus.WAITING, index=True)
    language: Mapped[str] = mapped_column(String(5), default="da")
    booker_name: Mapped[str] = mapped_column(String(200))
    booker_email: Mapped[str] = mapped_column(String(254))
    organisation: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict] = mapped_column(JSON)
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: A fresh token is made for each offer e-mail; the link in it accepts the offer.
    offer_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    offered_at: Mapped[datetime | None] = mapped_column(DateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("registration_order.id"))
    note: Mapped[str | None] = mapped_column(Text)

    edition: Mapped[Edition] = relationship()
    ticket_type: Mapped[TicketType] = relationship()
    order: Mapped[Order | None] = relationship()
