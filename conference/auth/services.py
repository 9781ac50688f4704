"""Staff users: creating and managing them, their passwords, the optional second
factor (TOTP with one-time recovery codes), the staff policy, and the guard on
every staff view.

Every change is audited with its before and after (``audit_change``); no
password, hash or secret ever goes into the audit log.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import UTC, datetime
from functools import cache, wraps
from urllib.parse import urlsplit

import pyotp
import segno
from flask import abort, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from conference import login_manager
from conference.auth.models import (
    SECOND_FACTOR_ROLES,
    RecoveryCode,
    Role,
    StaffPolicy,
    StaffUser,
)
from conference.core.db import db, utcnow
from conference.core.errors import DomainError, NotFound
from conference.core.security import (
    SealBroken,
    hash_token,
    seal,
    sealed_with_current_key,
    unseal,
)
from conference.core.services import audit_change, record_audit

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
#: The issuer shown next to the account in the authenticator app.
TOTP_ISSUER = "Digitaliseringstræf"
#: Codes of the step before and after the current one are accepted too (clock drift).
TOTP_VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
#: Recovery codes: 16 characters from 31 that cannot be mistaken for each other (79 bits),
#: shown in groups of 4. That much randomness makes a plain SHA-256 enough to store them.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUP = 4
RECOVERY_LENGTH = 16

ROLE_LABELS = {
    Role.ORGANISER.value: _l("Organiser"),
    Role.ACCOUNTING.value: _l("Accounting"),
    Role.CHECKIN.value: _l("Check-in"),
}


class LastOrganiser(DomainError):
    """The change would leave the conference without an active organiser."""


class SecondFactorError(DomainError):
    """A TOTP or recovery code was wrong, used before, or the second factor is in a wrong state."""


def role_label(role: str) -> str:
    """The role as the back office names it, in the user's language."""
    return str(ROLE_LABELS.get(role, role))


def _check_password_length(password: str | None, field: str = "password") -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise DomainError(
            _("The password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            field=field,
        )


def staff_state(user: StaffUser) -> dict:
    """The fields of a staff user the audit log records (never the password or secret)."""
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "active": bool(user.is_active_user),
        "second_factor": user.has_second_factor,
    }


def create_staff_user(
    email: str, role: str, password: str, *, name: str = "", actor: str = "system"
) -> StaffUser:
    """Add a staff user with a hashed password; refuses duplicates and weak passwords."""
    email = email.strip().lower()
    if "@" not in email:
        raise DomainError(_("Enter a valid e-mail address."), field="email")
    if role not in {r.value for r in Role}:
        raise DomainError(_("Unknown role."), field="role")
    _check_password_length(password)
    if find_staff_user(email) is not None:
        raise DomainError(_("A staff user with this e-mail already exists."), field="email")
    user = StaffUser(email=email, role=role, name=(name or "").strip(), is_active_user=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record_audit(
        actor, "staff.created", "staff_user", user.id, **audit_change({}, staff_state(user))
    )
    return user


def list_staff_users() -> list[StaffUser]:
    """Every staff user, active ones first, then by name and e-mail."""
    return list(
        db.session.scalars(
            select(StaffUser).order_by(
                StaffUser.is_active_user.desc(), func.lower(StaffUser.name), StaffUser.email
            )
        )
    )


def get_staff_user(user_id: int) -> StaffUser:
    """The staff user with this id; NotFound otherwise."""
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(_("There is no such staff user."))
    return user


def _refuse_losing_the_last_organiser(user: StaffUser) -> None:
    """Refuse when ``user`` is the only active organiser left.

    The active organisers' rows are locked (PostgreSQL) so that two organisers
    demoting each other at the same moment cannot both succeed.
    """
    if user.role != Role.ORGANISER or not user.is_active_user:
        return
    organisers = db.session.scalars(
        select(StaffUser.id)
        .where(StaffUser.role == Role.ORGANISER.value, StaffUser.is_active_user.is_(True))
        .order_by(StaffUser.id)
        .with_for_update()
    ).all()
    if set(organisers) <= {user.id}:
        raise LastOrganiser(
            _(
                "%(who)s is the last active organiser. Make another user an organiser "
                "first, so someone can still manage the conference.",
                who=user.display_name,
            ),
            field="role",
        )


def change_role(user: StaffUser, role: str, *, actor: str) -> bool:
    """Give ``user`` another role; False when it is the same. Refuses an unknown role
    and demoting the last active organiser (LastOrganiser)."""
    if role not in {r.value for r in Role}:
        raise DomainError(_("Unknown role."), field="role")
    if role == user.role:
        return False
    _refuse_losing_the_last_organiser(user)
    before = staff_state(user)
    user.role = role
    record_audit(
        actor,
        "staff.role_changed",
        "staff_user",
        user.id,
        **audit_change(before, staff_state(user)),
    )
    return True


def set_active(user: StaffUser, active: bool, *, actor: str) -> bool:
    """Deactivate or reactivate ``user``; False when nothing changes.

    A deactivated user cannot log in and is logged out on their next request.
    Nobody deactivates themselves, and the last active organiser stays active.
    """
    if bool(user.is_active_user) == active:
        return False
    if not active:
        if actor == user.actor:
            raise DomainError(_("You cannot deactivate yourself."), field="confirm")
        _refuse_losing_the_last_organiser(user)
    before = staff_state(user)
    user.is_active_user = active
    action = "staff.reactivated" if active else "staff.deactivated"
    record_audit(actor, action, "staff_user", user.id, **audit_change(before, staff_state(user)))
    return True


def set_password(user: StaffUser, password: str, *, actor: str) -> None:
    """An organiser gives ``user`` a new password (e.g. a forgotten one)."""
    _check_password_length(password)
    user.set_password(password)
    record_audit(actor, "staff.password_set", "staff_user", user.id)


def change_own_password(user: StaffUser, current_password: str, new_password: str) -> None:
    """A staff user changes their own password; the current one must be right."""
    if not user.check_password(current_password or ""):
        raise DomainError(_("The current password is not correct."), field="current_password")
    _check_password_length(new_password)
    if new_password == current_password:
        raise DomainError(_("The new password must differ from the current one."), field="password")
    user.set_password(new_password)
    record_audit(user.actor, "staff.password_changed", "staff_user", user.id)


def reset_second_factor(user: StaffUser, *, actor: str) -> bool:
    """An organiser turns off a user's second factor (a lost phone and lost recovery
    codes); the user enrols again. False when it was off."""
    if not user.has_second_factor:
        return False
    before = staff_state(user)
    _clear_second_factor(user)
    record_audit(
        actor,
        "staff.second_factor_reset",
        "staff_user",
        user.id,
        **audit_change(before, staff_state(user)),
    )
    return True


def find_staff_user(email: str) -> StaffUser | None:
    return db.session.scalar(
        select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower())
    )


@cache
def _dummy_password_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def check_credentials(email: str, password: str) -> StaffUser | None:
    """The active staff user with these credentials, or None (same answer for any
    failure). Logs nobody in: a user with a second factor still has to give a code."""
    user = find_staff_user(email)
    if user is None:
        # Spend the same time as a real check so response times do not reveal
        # which e-mail addresses belong to staff.
        check_password_hash(_dummy_password_hash(), password)
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    return user


def record_login(user: StaffUser, *, second_factor: str | None = None) -> None:
    """Note a completed login (after the second factor, if the user has one)."""
    user.last_login_at = utcnow()
    data = {"second_factor": second_factor} if second_factor else {}
    record_audit(user.actor, "staff.login", "staff_user", user.id, **data)


def authenticate(email: str, password: str) -> StaffUser | None:
    """``check_credentials`` and ``record_login`` in one, for users without a second factor."""
    user = check_credentials(email, password)
    if user is not None:
        record_login(user)
    return user


# --- the second factor (TOTP) --------------------------------------------------------


def new_totp_secret() -> str:
    """A fresh random base32 secret for enrolment (160 bits)."""
    return pyotp.random_base32(32)


def totp_uri(user: StaffUser, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the enrolment QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def qr_svg(data: str) -> str:
    """An inline SVG QR code of ``data`` (no external image, fits the CSP)."""
    # No fixed size (a viewBox only): the page's CSS sizes it; four modules of quiet zone.
    return segno.make(data, error="m").svg_inline(
        scale=5, border=4, dark="#000", light="#fff", omitsize=True
    )


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _normalised_totp_code(code: str | None) -> str | None:
    digits = "".join((code or "").split())
    return digits if len(digits) == 6 and digits.isdigit() else None


def _matching_totp_step(secret: str, code: str, at: datetime | None = None) -> int | None:
    """The time step whose code is ``code`` (within the window), or None."""
    totp = pyotp.TOTP(secret)
    now = totp.timecode(at or datetime.now(UTC))
    for step in range(now - TOTP_VALID_WINDOW, now + TOTP_VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _totp_key(user: StaffUser) -> str | None:
    """The user's TOTP key, unsealed; None when they have none or no app key opens it."""
    if user.totp_secret is None:
        return None
    try:
        return unseal(user.totp_secret)
    except SealBroken:
        # SECRET_KEY changed without the old one in SECRET_KEY_FALLBACKS: only a
        # recovery code, or a reset by an administrator, lets this user in now.
        logger.error("the second-factor key of %s opens with none of the app's keys", user.actor)
        return None


def _use_totp_code(user: StaffUser, code: str | None) -> bool:
    """Accept a current TOTP code once: a code (or an older one) already used is refused.

    The last used time step is moved forward with one conditional write, so two
    requests racing with the same code cannot both succeed.
    """
    normalised = _normalised_totp_code(code)
    if normalised is None:
        return False
    key = _totp_key(user)
    if key is None:
        return False
    step = _matching_totp_step(key, normalised)
    if step is None:
        return False
    moved = db.session.execute(
        update(StaffUser)
        .where(
            StaffUser.id == user.id,
            or_(StaffUser.totp_last_counter.is_(None), StaffUser.totp_last_counter < step),
        )
        .values(totp_last_counter=step)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    user.totp_last_counter = step
    if not sealed_with_current_key(user.totp_secret):
        # Sealed with a key now in SECRET_KEY_FALLBACKS: seal it with the new one,
        # so the old key can be dropped once every such user has logged in.
        user.totp_secret = seal(key)
    return True


def _normalised_recovery_code(code: str | None) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(raw[i : i + RECOVERY_GROUP] for i in range(0, RECOVERY_LENGTH, RECOVERY_GROUP))


def _use_recovery_code(user: StaffUser, code: str | None) -> bool:
    """Accept an unused recovery code of ``user`` and mark it used (one conditional write)."""
    normalised = _normalised_recovery_code(code)
    if len(normalised) != RECOVERY_LENGTH:
        return False
    used = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.staff_user_id == user.id,
            RecoveryCode.code_hash == hash_token(normalised),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1


def unused_recovery_codes(user: StaffUser) -> int:
    return int(
        db.session.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.staff_user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def verify_second_factor(user: StaffUser, code: str | None) -> str | None:
    """Check the code of a login's second step: "totp" or "recovery" for what was
    accepted, None for a wrong, replayed or used code."""
    if not user.has_second_factor:
        return None
    if _use_totp_code(user, code):
        return "totp"
    if _use_recovery_code(user, code):
        record_audit(user.actor, "staff.recovery_code_used", "staff_user", user.id)
        return "recovery"
    return None


def enable_second_factor(user: StaffUser, secret: str, code: str | None) -> list[str]:
    """Turn TOTP on with the secret shown at enrolment, once the user typed a current
    code from their app. Returns ten new recovery codes to show once (stored hashed)."""
    if user.has_second_factor:
        raise SecondFactorError(_("The second factor is already on."), field="code")
    normalised = _normalised_totp_code(code)
    step = _matching_totp_step(secret, normalised) if normalised else None
    if step is None:
        raise SecondFactorError(
            _("The code is not correct. Check the time on your phone and try again."),
            field="code",
        )
    before = staff_state(user)
    user.totp_secret = seal(secret)
    user.totp_enabled_at = utcnow()
    # The confirming code counts as used: it cannot log anyone in afterwards.
    user.totp_last_counter = step
    codes = _replace_recovery_codes(user)
    record_audit(
        user.actor,
        "staff.second_factor_enabled",
        "staff_user",
        user.id,
        **audit_change(before, staff_state(user)),
    )
    return codes


def disable_second_factor(user: StaffUser, code: str | None) -> None:
    """Turn TOTP off; needs a current code (or a recovery code). Refused while the
    policy obliges the user's role to have one."""
    if not user.has_second_factor:
        raise SecondFactorError(_("The second factor is already off."), field="code")
    if second_factor_required_for(user):
        raise SecondFactorError(
            _("A second factor is mandatory for your role, so it cannot be turned off."),
            field="code",
        )
    if verify_second_factor(user, code) is None:
        raise SecondFactorError(_("The code is not correct."), field="code")
    before = staff_state(user)
    _clear_second_factor(user)
    record_audit(
        user.actor,
        "staff.second_factor_disabled",
        "staff_user",
        user.id,
        **audit_change(before, staff_state(user)),
    )


def _clear_second_factor(user: StaffUser) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_counter = None
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.staff_user_id == user.id))


def _replace_recovery_codes(user: StaffUser) -> list[str]:
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.staff_user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(
        RecoveryCode(staff_user_id=user.id, code_hash=hash_token(_normalised_recovery_code(code)))
        for code in codes
    )
    return codes


# --- the staff policy ------------------------------------------------------------------


def staff_policy() -> StaffPolicy:
    """The policy row (id 1); an unsaved default one when organisers never set it."""
    return db.session.get(StaffPolicy, 1) or StaffPolicy(id=1, second_factor_required=False)


def set_second_factor_required(required: bool, *, actor: str) -> bool:
    """Make a second factor mandatory (or optional) for organisers and accounting."""
    policy = db.session.get(StaffPolicy, 1)
    if policy is None:
        policy = StaffPolicy(id=1, second_factor_required=False)
        db.session.add(policy)
    if bool(policy.second_factor_required) == required:
        return False
    before = {"second_factor_required": bool(policy.second_factor_required)}
    policy.second_factor_required = required
    db.session.flush()
    record_audit(
        actor,
        "staff_policy.changed",
        "staff_policy",
        policy.id,
        **audit_change(before, {"second_factor_required": required}),
    )
    return True


def second_factor_required_for(user: StaffUser) -> bool:
    """Whether the policy obliges this user's role to use a second factor."""
    if user.role not in SECOND_FACTOR_ROLES:
        return False
    return bool(staff_policy().second_factor_required)


def must_enrol(user: StaffUser) -> bool:
    """Whether the user has to set up a second factor before using the back office."""
    return not user.has_second_factor and second_factor_required_for(user)


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


def roles_required(*roles: str, during_enrolment: bool = False):
    """Guard a staff view: anonymous users go to the login page, other roles get 403,
    and a user the policy obliges to set up a second factor is sent to do that first
    (unless the view is part of it: ``during_enrolment``).

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
            if not during_enrolment and must_enrol(current_user):
                return redirect(url_for("auth.second_factor"))
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        guarded.allowed_roles = frozenset(roles)
        return guarded

    return decorator
