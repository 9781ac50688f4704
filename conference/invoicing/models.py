"""Invoices and credit notes: immutable snapshots of what was sold, numbered gap-free.

A credit note is stored as an ``Invoice`` of kind ``credit_note``: both are
documents of one shape (Peppol's Invoice and CreditNote share it), they are
listed, exported and kept together, and only the number series and the sign in
the ledger differ. Amounts on a credit note are positive; the kind says they
are taken back.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from conference.core.db import db, utcnow
from conference.core.errors import DomainError


class DocumentKind(enum.StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class NumberSeries(db.Model):
    """The last number used in one series; the row is locked while a number is taken."""

    __tablename__ = "invoice_number_series"

    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(db.Model):
    """An issued invoice or credit note: everything printed on it, frozen at issue.

    Never updated or deleted once written (bogføringsloven: kept five years, also
    after the buyer's personal data is erased elsewhere). Payments are recorded
    beside it in ``InvoicePayment``; the rendered PDF in ``InvoiceFile``.
    """

    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("series_prefix", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default=DocumentKind.INVOICE, index=True)
    series_prefix: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    issued_on: Mapped[date] = mapped_column(Date, index=True)
    #: Date of supply: the day of the conference.
    supplied_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(5), default="da")
    currency: Mapped[str] = mapped_column(String(3), default="DKK")
    #: "invoice" (bank transfer / e-invoice) or "card" (paid through Stripe).
    payment_method: Mapped[str] = mapped_column(String(20))

    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("registration_order.id"), index=True)
    #: A stand booking's invoice (then ``order_id`` is empty).
    stand_booking_id: Mapped[int | None] = mapped_column(ForeignKey("stand_booking.id"), index=True)
    #: For a credit note: the invoice it corrects.
    credited_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    #: The order or booking reference the buyer knows (e.g. DT7K2M9Q).
    our_reference: Mapped[str] = mapped_column(String(40), default="")

    seller: Mapped[dict] = mapped_column(JSON)
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_address: Mapped[str] = mapped_column(String(300))
    buyer_postcode: Mapped[str] = mapped_column(String(10))
    buyer_city: Mapped[str] = mapped_column(String(100))
    buyer_country: Mapped[str] = mapped_column(String(2), default="DK")
    buyer_contact: Mapped[str] = mapped_column(String(200), default="")
    buyer_email: Mapped[str] = mapped_column(String(254), default="")
    buyer_cvr: Mapped[str | None] = mapped_column(String(8))
    buyer_ean: Mapped[str | None] = mapped_column(String(13))
    buyer_is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Personreference (Peppol BuyerReference).
    buyer_reference: Mapped[str | None] = mapped_column(String(100))
    buyer_order_number: Mapped[str | None] = mapped_column(String(100))
    #: Kontostreng (Peppol AccountingCost).
    buyer_accounting_cost: Mapped[str | None] = mapped_column(String(100))

    #: [{"description", "quantity", "unit_net_ore", "net_ore", "vat_percent"}]
    lines: Mapped[list] = mapped_column(JSON)
    #: [{"vat_percent", "net_ore", "vat_ore"}], VAT computed per rate on the total.
    vat_breakdown: Mapped[list] = mapped_column(JSON)
    net_ore: Mapped[int] = mapped_column(Integer)
    vat_ore: Mapped[int] = mapped_column(Integer)
    total_ore: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")

    credited_invoice: Mapped[Invoice | None] = relationship(remote_side=[id])
    payments: Mapped[list[InvoicePayment]] = relationship(
        back_populates="invoice", order_by="InvoicePayment.id"
    )

    @property
    def is_credit_note(self) -> bool:
        return self.kind == DocumentKind.CREDIT_NOTE

    @property
    def signed_total_ore(self) -> int:
        """The total as the ledger counts it: negative for a credit note."""
        return -self.total_ore if self.is_credit_note else self.total_ore


class InvoicePayment(db.Model):
    """Money received against an invoice (bank transfer noted by accounting, or card)."""

    __tablename__ = "invoice_payment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    paid_on: Mapped[date] = mapped_column(Date)
    amount_ore: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(20))  # "bank" or "card"
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


class InvoiceFile(db.Model):
    """The PDF of a document, rendered once; downloads serve these bytes."""

    __tablename__ = "invoice_file"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    rendered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImmutableDocument(DomainError):
    """Something tried to change or delete an issued invoice or credit note."""


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_issued_documents(session: Session, flush_context, instances) -> None:
    for obj in session.deleted:
        if isinstance(obj, Invoice):
            raise ImmutableDocument(f"invoice {obj.number} is issued and cannot be deleted")
    for obj in session.dirty:
        if isinstance(obj, Invoice) and session.is_modified(obj, include_collections=False):
            raise ImmutableDocument(f"invoice {obj.number} is issued and cannot be changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes_to_documents(state) -> None:
    if (state.is_update or state.is_delete) and any(
        mapper.class_ is Invoice for mapper in state.all_mappers
    ):
        raise ImmutableDocument("issued invoices cannot be changed or deleted")
