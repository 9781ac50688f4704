"""Stripe Checkout Sessions for card orders, the webhook events seen, and refunds."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.core.db import db, utcnow
from conference.registration.models import Order


class CheckoutStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"


class CheckoutSession(db.Model):
    """One Stripe Checkout Session paying for one order's held places."""

    __tablename__ = "checkout_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stripe_id: Mapped[str] = mapped_column(String(255), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("registration_order.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=CheckoutStatus.OPEN, index=True)
    amount_total_ore: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text, default="")
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)

    order: Mapped[Order] = relationship()


class StripeEvent(db.Model):
    """A webhook event already processed: its id makes a second delivery a no-op."""

    __tablename__ = "stripe_event"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(200), default="")


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(db.Model):
    """Money sent back to a card through Stripe."""

    __tablename__ = "refund"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("registration_order.id"), index=True)
    stripe_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str] = mapped_column(String(255))
    amount_ore: Mapped[int] = mapped_column(Integer)
    #: "late_payment" (no place left), "cancelled" (organiser), "duplicate"
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=RefundStatus.PENDING)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)

    order: Mapped[Order] = relationship()
