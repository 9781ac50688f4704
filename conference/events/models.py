"""An edition of the event, its ticket types and the quota they share."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.core.db import db, utcnow
from conference.core.money import STANDARD_VAT_PERCENT, gross_of


class Edition(db.Model):
    """One year's conference. Times are naive UTC; pages show Copenhagen time."""

    __tablename__ = "edition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    venue_name: Mapped[str] = mapped_column(String(200))
    venue_address: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str | None] = mapped_column(Text)
    programme: Mapped[str] = mapped_column(Text, default="")
    programme_en: Mapped[str | None] = mapped_column(Text)
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    questions_email: Mapped[str] = mapped_column(String(200), default="")
    registration_opens_at: Mapped[datetime] = mapped_column(DateTime)
    registration_closes_at: Mapped[datetime] = mapped_column(DateTime)
    transfer_deadline: Mapped[datetime] = mapped_column(DateTime)

    # Seller details printed on invoices (issue 4 reads them).
    seller_name: Mapped[str] = mapped_column(String(200), default="")
    seller_address: Mapped[str] = mapped_column(String(300), default="")
    seller_cvr: Mapped[str] = mapped_column(String(20), default="")
    seller_email: Mapped[str] = mapped_column(String(200), default="")
    seller_bank_reg: Mapped[str] = mapped_column(String(10), default="")
    seller_bank_account: Mapped[str] = mapped_column(String(20), default="")
    seller_iban: Mapped[str] = mapped_column(String(40), default="")
    seller_bic: Mapped[str] = mapped_column(String(20), default="")

    #: Show "only N places left" when this few remain.
    few_places_threshold: Mapped[int] = mapped_column(Integer, default=25)
    max_group_size: Mapped[int] = mapped_column(Integer, default=20)
    offer_valid_hours: Mapped[int] = mapped_column(Integer, default=48)
    #: A transfer to an e-mail domain outside the booker's organisation: "allow"
    #: (after a warning) or "approval" (waits for an organiser).
    transfer_outside_domain: Mapped[str] = mapped_column(
        String(20), default="approval", server_default="approval"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    quotas: Mapped[list[Quota]] = relationship(back_populates="edition", order_by="Quota.id")
    ticket_types: Mapped[list[TicketType]] = relationship(
        back_populates="edition", order_by="TicketType.sort_order"
    )

    def display_name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name

    def display_description(self, language: str) -> str:
        return self.description_en if language == "en" and self.description_en else self.description

    def display_programme(self, language: str) -> str:
        return self.programme_en if language == "en" and self.programme_en else self.programme


class Quota(db.Model):
    """Places shared by ticket types. ``taken`` counts confirmed and held places."""

    __tablename__ = "quota"
    __table_args__ = (
        CheckConstraint("taken >= 0", name="taken_not_negative"),
        CheckConstraint("taken <= capacity", name="taken_within_capacity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    capacity: Mapped[int] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0)

    edition: Mapped[Edition] = relationship(back_populates="quotas")

    @property
    def free(self) -> int:
        return max(self.capacity - self.taken, 0)


class TicketType(db.Model):
    """A kind of place with a price without VAT. Hidden types need an access code.

    An early-bird price, when set, is what a booking pays up to and including
    ``early_bird_until`` (a Copenhagen calendar day); afterwards the normal price.
    """

    __tablename__ = "ticket_type"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    quota_id: Mapped[int] = mapped_column(ForeignKey("quota.id"))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    price_net_ore: Mapped[int] = mapped_column(Integer)
    vat_percent: Mapped[int] = mapped_column(Integer, default=STANDARD_VAT_PERCENT)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    early_bird_price_net_ore: Mapped[int | None] = mapped_column(Integer)
    early_bird_until: Mapped[date | None] = mapped_column(Date)

    edition: Mapped[Edition] = relationship(back_populates="ticket_types")
    quota: Mapped[Quota] = relationship()
    access_codes: Mapped[list[AccessCode]] = relationship(
        back_populates="ticket_type", order_by="AccessCode.id"
    )

    @property
    def price_gross_ore(self) -> int:
        return gross_of(self.price_net_ore, self.vat_percent)

    @property
    def access_code(self) -> str | None:
        """The first of the type's access codes (what one code per hidden type used to be)."""
        return self.access_codes[0].code if self.access_codes else None

    def display_name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name


class AccessCode(db.Model):
    """A code that unlocks a ticket type for speakers, press or partners.

    ``price_net_ore`` overrides the ticket type's price (0: free; empty: the
    type's own price). ``used`` counts places booked with the code; it is
    raised by one conditional write in the order's transaction, never past
    ``max_uses``.
    """

    __tablename__ = "access_code"
    __table_args__ = (
        UniqueConstraint("edition_id", "code", name="uq_access_code_edition_code"),
        CheckConstraint("used >= 0", name="used_not_negative"),
        CheckConstraint("used <= max_uses", name="used_within_max_uses"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_type.id"), index=True)
    #: Stored upper case; bookers may type it in any case.
    code: Mapped[str] = mapped_column(String(60))
    note: Mapped[str] = mapped_column(String(200), default="")
    price_net_ore: Mapped[int | None] = mapped_column(Integer)
    max_uses: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    edition: Mapped[Edition] = relationship()
    ticket_type: Mapped[TicketType] = relationship(back_populates="access_codes")

    @property
    def uses_left(self) -> int:
        return max(self.max_uses - self.used, 0)

    @property
    def is_free(self) -> bool:
        return self.price_net_ore == 0
