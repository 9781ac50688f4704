"""Staff users: creating them and checking their passwords."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from conference.auth.models import Role, StaffUser
from conference.core.db import db, utcnow
from conference.core.errors import DomainError
from conference.core.services import record_audit

MIN_PASSWORD_LENGTH = 10


def create_staff_user(
    email: str, role: str, password: str, *, name: str = "", actor: str = "system"
) -> StaffUser:
    """Add a staff user with a hashed password; refuses duplicates and weak passwords."""
    email = email.strip().lower()
    if "@" not in email:
        raise DomainError(_("Enter a valid e-mail address."), field="email")
    if role not in {r.value for r in Role}:
        raise DomainError(_("Unknown role."), field="role")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise DomainError(
            _("The password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            field="password",
        )
    if find_staff_user(email) is not None:
        raise DomainError(_("A staff user with this e-mail already exists."), field="email")
    user = StaffUser(email=email, role=role, name=name)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record_audit(actor, "staff.created", "staff_user", user.id, email=email, role=role)
    return user


def find_staff_user(email: str) -> StaffUser | None:
    return db.session.scalar(
        select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower())
    )


def authenticate(email: str, password: str) -> StaffUser | None:
    """The active staff user with these credentials, or None (same answer for any failure)."""
    user = find_staff_user(email)
    if user is None or not user.is_active or not user.check_password(password):
        return None
    user.last_login_at = utcnow()
    record_audit(f"staff:{user.id}", "staff.login", "staff_user", user.id)
    return user
