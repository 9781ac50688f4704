"""Staff users: creating them and checking their passwords."""

from __future__ import annotations

import secrets
from functools import cache, wraps
from urllib.parse import urlsplit

from flask import abort
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from conference import login_manager
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


@cache
def _dummy_password_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> StaffUser | None:
    """The active staff user with these credentials, or None (same answer for any failure)."""
    user = find_staff_user(email)
    if user is None:
        # Spend the same time as a real check so response times do not reveal
        # which e-mail addresses belong to staff.
        check_password_hash(_dummy_password_hash(), password)
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    user.last_login_at = utcnow()
    record_audit(user.actor, "staff.login", "staff_user", user.id)
    return user


def safe_next_url(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects).

    Only relative paths are accepted: a scheme, a host, a protocol-relative
    ``//host`` or a backslash (browsers read ``/\\host`` as ``//host``) is refused.
    """
    if not target or len(target) > 2000:
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    return target


def roles_required(*roles: str):
    """Guard a staff view: anonymous users go to the login page, other roles get 403.

    The allowed roles are kept on the view as ``allowed_roles`` so tests can
    check that every back-office route is guarded.
    """
    unknown = set(roles) - {r.value for r in Role}
    if not roles or unknown:
        raise ValueError(f"roles_required needs known roles, got {roles!r}")

    def decorator(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        guarded.allowed_roles = frozenset(roles)
        return guarded

    return decorator
