"""The exhibition hall: stands on a floor plan, packages, add-ons, bookings and passes.

A stand is sold once. Its ``status`` moves from ``free`` to ``reserved`` (a
request waiting for the organiser) or ``booked`` by one conditional write,
``UPDATE stand SET status = ... WHERE id = :id AND status = 'free'``, and the
unique ``booking_id`` makes a second booking of the same stand impossible
whatever the concurrency (DESIGN: stands).

Positions and sizes are in centimetres on the hall's own grid, so the floor plan
is drawn as SVG straight from these rows; the area in m² follows from them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.core.db import db, utcnow
from conference.core.money import STANDARD_VAT_PERCENT, gross_of
from conference.events.models import Edition


class BookingMode(enum.StrEnum):
    #: A booking is confirmed and binding at once, and invoiced.
    BINDING = "binding"
    #: A booking is a request; the stand is reserved until an organiser decides.
    APPROVAL = "approval"


class StandStatus(enum.StrEnum):
    FREE = "free"
    RESERVED = "reserved"
    BOOKED = "booked"


class StandBookingStatus(enum.StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class AddonKind(enum.StrEnum):
    #: One more exhibitor pass beyond those the package includes.
    EXTRA_PASS = "extra_pass"  # noqa: S105 - an exhibitor pass, not a password
    POWER = "power"
    FURNITURE = "furniture"
    OTHER = "other"


class ExhibitorPassStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class StandHall(db.Model):
    """The exhibition of one edition: the hall's size, its plan and its rules."""

    __tablename__ = "stand_hall"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    width_cm: Mapped[int] = mapped_column(Integer, default=4000)
    depth_cm: Mapped[int] = mapped_column(Integer, default=2500)
    #: An optional picture under the drawn stands (PNG or JPEG, checked on upload).
    #: Loaded only when served; ``background_type`` says whether there is one.
    background: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    background_type: Mapped[str | None] = mapped_column(String(40))
    booking_mode: Mapped[str] = mapped_column(String(20), default=BookingMode.BINDING)
    #: The exhibitor terms the booker accepts, in Danish and (optionally) English.
    terms: Mapped[str] = mapped_column(Text, default="")
    terms_en: Mapped[str | None] = mapped_column(Text)
    #: Exhibitors may change their staff's names until this moment (naive UTC).
    staff_deadline: Mapped[datetime | None] = mapped_column(DateTime)
    bookings_open: Mapped[bool] = mapped_column(Boolean, default=True)

    edition: Mapped[Edition] = relationship()

    def display_terms(self, language: str) -> str:
        return self.terms_en if language == "en" and self.terms_en else self.terms


class StandPackage(db.Model):
    """What comes with a stand: a price without VAT, passes and what is included."""

    __tablename__ = "stand_package"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    price_net_ore: Mapped[int] = mapped_column(Integer)
    vat_percent: Mapped[int] = mapped_column(Integer, default=STANDARD_VAT_PERCENT)
    included_passes: Mapped[int] = mapped_column(Integer, default=2)
    #: What is included, one item a line ("Strøm 230 V", "Bord og to stole").
    includes: Mapped[str] = mapped_column(Text, default="")
    includes_en: Mapped[str | None] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def price_gross_ore(self) -> int:
        return gross_of(self.price_net_ore, self.vat_percent)

    def display_name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name

    def included_items(self, language: str) -> list[str]:
        text = self.includes_en if language == "en" and self.includes_en else self.includes
        return [line.strip() for line in (text or "").splitlines() if line.strip()]


class StandAddon(db.Model):
    """Something an exhibitor can add to a booking at a price without VAT."""

    __tablename__ = "stand_addon"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default=AddonKind.OTHER)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    price_net_ore: Mapped[int] = mapped_column(Integer)
    vat_percent: Mapped[int] = mapped_column(Integer, default=STANDARD_VAT_PERCENT)
    #: The most one booking may order.
    max_quantity: Mapped[int] = mapped_column(Integer, default=10)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def price_gross_ore(self) -> int:
        return gross_of(self.price_net_ore, self.vat_percent)

    def display_name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name


class Stand(db.Model):
    """One stand on the plan. ``status`` and ``booking_id`` change by conditional writes."""

    __tablename__ = "stand"
    __table_args__ = (
        UniqueConstraint("edition_id", "code", name="uq_stand_edition_code"),
        CheckConstraint("width_cm > 0 AND depth_cm > 0", name="positive_size"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    x_cm: Mapped[int] = mapped_column(Integer, default=0)
    y_cm: Mapped[int] = mapped_column(Integer, default=0)
    width_cm: Mapped[int] = mapped_column(Integer)
    depth_cm: Mapped[int] = mapped_column(Integer)
    package_id: Mapped[int] = mapped_column(ForeignKey("stand_package.id"))
    status: Mapped[str] = mapped_column(String(20), default=StandStatus.FREE, index=True)
    #: The booking that holds it (reserved or booked); unique, so never two.
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("stand_booking.id", use_alter=True), unique=True
    )
    note: Mapped[str] = mapped_column(String(300), default="")

    package: Mapped[StandPackage] = relationship()
    booking: Mapped[StandBooking | None] = relationship(foreign_keys=[booking_id])

    @property
    def area_m2(self) -> float:
        return self.width_cm * self.depth_cm / 10_000


class StandBooking(db.Model):
    """A company's booking (or request) of one stand, with its invoice details.

    ``addons`` is a snapshot of what was ordered at the prices of the day:
    [{"addon_id", "kind", "name", "quantity", "unit_net_ore", "vat_percent"}].
    The company profile (description, logo) is shown on the public exhibitor
    list once the booking is confirmed.
    """

    __tablename__ = "stand_booking"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    #: The stand booked (or last booked: kept after a cancellation for the record).
    stand_id: Mapped[int] = mapped_column(ForeignKey("stand.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(5), default="da")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)

    company: Mapped[str] = mapped_column(String(200), index=True)
    cvr: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(10))
    city: Mapped[str] = mapped_column(String(100))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254), index=True)
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    invoice_email: Mapped[str] = mapped_column(String(254))
    ean: Mapped[str | None] = mapped_column(String(13))
    personreference: Mapped[str | None] = mapped_column(String(100))
    buyer_order_number: Mapped[str | None] = mapped_column(String(100))
    accounting_cost: Mapped[str | None] = mapped_column(String(100))
    terms_accepted_at: Mapped[datetime] = mapped_column(DateTime)

    #: The package as sold: its name, price and included passes at booking time.
    package_name: Mapped[str] = mapped_column(String(200))
    package_net_ore: Mapped[int] = mapped_column(Integer)
    package_vat_percent: Mapped[int] = mapped_column(Integer, default=STANDARD_VAT_PERCENT)
    included_passes: Mapped[int] = mapped_column(Integer, default=0)
    addons: Mapped[list] = mapped_column(JSON, default=list)
    #: Extra passes bought after booking, from the manage page (each invoiced).
    extra_passes: Mapped[int] = mapped_column(Integer, default=0)

    description: Mapped[str] = mapped_column(Text, default="")
    #: Loaded only when served; ``logo_type`` says whether there is one.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str] = mapped_column(String(300), default="")

    edition: Mapped[Edition] = relationship()
    stand: Mapped[Stand] = relationship(foreign_keys=[stand_id])
    passes: Mapped[list[ExhibitorPass]] = relationship(
        back_populates="booking", order_by="ExhibitorPass.id"
    )

    @property
    def pass_allowance(self) -> int:
        """How many people the exhibitor may name: included, add-on and later extra passes."""
        bought = sum(
            int(item["quantity"]) for item in self.addons if item["kind"] == AddonKind.EXTRA_PASS
        )
        return self.included_passes + bought + self.extra_passes

    @property
    def active_passes(self) -> list[ExhibitorPass]:
        return [p for p in self.passes if p.status == ExhibitorPassStatus.ACTIVE]


class ExhibitorPass(db.Model):
    """A named member of the stand staff: a ticket like an attendee's, outside capacity."""

    __tablename__ = "exhibitor_pass"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("stand_booking.id"), index=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=ExhibitorPassStatus.ACTIVE)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(254))
    job_title: Mapped[str] = mapped_column(String(200), default="")
    #: What the ticket's QR identifies (signed); rotated when the name changes.
    ticket_code: Mapped[str] = mapped_column(String(40), unique=True)
    ticket_version: Mapped[int] = mapped_column(Integer, default=1)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime)
    checked_in_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    booking: Mapped[StandBooking] = relationship(back_populates="passes")
