"""Staff users. Attendees and exhibitors never log in: they use manage links."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from conference.core.db import db, utcnow


class Role(enum.StrEnum):
    ORGANISER = "organiser"
    ACCOUNTING = "accounting"
    CHECKIN = "checkin"


class StaffUser(UserMixin, db.Model):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(256))
    is_active_user: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The TOTP secret once the second factor is on, sealed with the app's key
    #: (conference/core/security.py: seal), never plain; None when it is off.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The time step of the last code accepted, so a code cannot be used twice.
    totp_last_counter: Mapped[int | None] = mapped_column(Integer)

    @property
    def actor(self) -> str:
        """How the audit log and the services name this person: "staff:<id>"."""
        return f"staff:{self.id}"

    @property
    def session_key(self) -> str:
        """What a login session remembers the user by: the id and a fingerprint of the
        password hash and second factor, so a new password (or a second factor turned
        off or reset) ends every session opened before it."""
        # When the second factor was turned on, not its sealed key: sealing the same
        # key again under a new SECRET_KEY must not end the user's sessions.
        enabled = self.totp_enabled_at.isoformat() if self.totp_enabled_at else ""
        material = f"{self.password_hash}|{enabled}".encode()
        return f"{self.id}.{hashlib.sha256(material).hexdigest()[:16]}"

    def get_id(self) -> str:  # Flask-Login stores this in the session
        return self.session_key

    @property
    def is_active(self) -> bool:  # Flask-Login asks this
        return self.is_active_user

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def has_second_factor(self) -> bool:
        return self.totp_secret is not None

    @property
    def display_name(self) -> str:
        return self.name or self.email


#: Roles that an organiser can oblige to use a second factor (check-in staff never).
SECOND_FACTOR_ROLES = frozenset({Role.ORGANISER.value, Role.ACCOUNTING.value})


class RecoveryCode(db.Model):
    """A one-time code that stands in for a TOTP code (a lost phone); stored hashed."""

    __tablename__ = "staff_recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class StaffPolicy(db.Model):
    """The organisers' security settings for staff: one row (id 1), absent means defaults."""

    __tablename__ = "staff_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    second_factor_required: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
