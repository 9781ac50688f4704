"""Staff login (with the second step for a TOTP code), logout, the staff user's own
account page, and the organisers' screens for staff users and the staff policy."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from conference.auth import services
from conference.auth.forms import (
    ChangePasswordForm,
    DeactivateForm,
    DisableSecondFactorForm,
    EnrolForm,
    LoginForm,
    PolicyForm,
    ReactivateForm,
    ResetSecondFactorForm,
    RoleForm,
    SecondFactorCodeForm,
    SetPasswordForm,
    StaffUserForm,
)
from conference.auth.models import Role, StaffUser
from conference.auth.services import roles_required, safe_next_url
from conference.core.db import db
from conference.core.errors import DomainError
from conference.core.manage_links import private
from conference.core.security import limiter

bp = Blueprint("auth", __name__, url_prefix="/staff")

ALL_STAFF = (Role.ORGANISER, Role.ACCOUNTING, Role.CHECKIN)
#: The session key of a login waiting for its second factor: user id, next page, since.
PENDING_LOGIN = "staff_pending_login"
#: How long the code step waits after a correct password before asking for it again.
PENDING_LOGIN_SECONDS = 300
#: The session key of the secret shown on the enrolment page until it is confirmed.
ENROLMENT_KEY = "staff_totp_enrolment"


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _second_factor_rate_limit() -> str:
    return current_app.config["SECOND_FACTOR_RATE_LIMIT"]


def _pending_login_key() -> str:
    # Per staff user, whichever address the guesses come from.
    pending = session.get(PENDING_LOGIN)
    user_id = pending.get("user") if isinstance(pending, dict) else None
    return f"second-factor:{user_id}"


def _after_login_url(target: str | None) -> str:
    return safe_next_url(target) or url_for("backoffice.index")


def _fresh_session() -> None:
    """A new session on login: nothing from before carries over but the language."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def _complete_login(user: StaffUser, next_url: str | None, second_factor: str | None = None):
    _fresh_session()
    login_user(user)
    services.record_login(user, second_factor=second_factor)
    db.session.commit()
    if services.must_enrol(user):
        # The enrolment page itself says why.
        return redirect(url_for("auth.second_factor"))
    if second_factor == "recovery":
        flash(
            _(
                "You logged in with a recovery code, which now cannot be used again. "
                "%(num)d are left.",
                num=services.unused_recovery_codes(user),
            ),
            "info",
        )
    return redirect(_after_login_url(next_url))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next_url(request.args.get("next")) or ""
        if current_user.is_authenticated:
            return redirect(_after_login_url(form.next.data))
    error = None
    if form.validate_on_submit():
        user = services.check_credentials(form.email.data, form.password.data)
        if user is None:
            # One message for an unknown address, a wrong password and a
            # deactivated account, so the form reveals nothing about who is staff.
            error = _("The e-mail address or password is not correct.")
        elif user.has_second_factor:
            next_url = safe_next_url(form.next.data) or ""
            _fresh_session()
            session[PENDING_LOGIN] = {"user": user.id, "next": next_url, "since": time.time()}
            return redirect(url_for("auth.login_code"))
        else:
            return _complete_login(user, form.next.data)
    return render_template("auth/login.html", form=form, error=error)


def _pending_login_user() -> StaffUser | None:
    """The user whose password was right a moment ago and who still owes a code."""
    pending = session.get(PENDING_LOGIN)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("since", 0)) > PENDING_LOGIN_SECONDS:
        session.pop(PENDING_LOGIN, None)
        return None
    user_id = pending.get("user")
    user = db.session.get(StaffUser, user_id) if isinstance(user_id, int) else None
    if user is None or not user.is_active or not user.has_second_factor:
        return None
    return user


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
@limiter.limit(_second_factor_rate_limit, methods=["POST"], key_func=_pending_login_key)
def login_code():
    user = _pending_login_user()
    if user is None:
        flash(_("Please log in again."), "info")
        return redirect(url_for("auth.login"))
    form = SecondFactorCodeForm()
    status = 200
    if form.validate_on_submit():
        used = services.verify_second_factor(user, form.code.data)
        if used is not None:
            return _complete_login(user, session[PENDING_LOGIN].get("next"), used)
        db.session.rollback()
        form.code.errors = [_("The code is not correct, or it has been used already.")]
        status = 422
    return private(
        current_app.make_response((render_template("auth/login_code.html", form=form), status))
    )


@bp.post("/logout")
def logout():
    logout_user()
    _fresh_session()
    flash(_("You are logged out."), "success")
    return redirect(url_for("auth.login"))


# --- my account ------------------------------------------------------------------------


def _keep_logged_in(user: StaffUser) -> None:
    """After this user's own password or second factor changed: every other session
    of theirs has ended (StaffUser.session_key); this one carries on."""
    # Flask-Login wants the user itself, not the current_user proxy.
    login_user(user._get_current_object() if hasattr(user, "_get_current_object") else user)


def _render_account(password_form=None, disable_form=None, status: int = 200):
    user = current_user
    html = render_template(
        "auth/account.html",
        user=user,
        password_form=password_form or ChangePasswordForm(),
        disable_form=disable_form or DisableSecondFactorForm(),
        required=services.second_factor_required_for(user),
        recovery_left=services.unused_recovery_codes(user) if user.has_second_factor else 0,
        role_label=services.role_label,
    )
    return html, status


@bp.get("/account")
@roles_required(*ALL_STAFF)
def account():
    return _render_account()


@bp.post("/account/password")
@roles_required(*ALL_STAFF)
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _render_account(password_form=form, status=422)
    try:
        services.change_own_password(current_user, form.current_password.data, form.password.data)
    except DomainError as error:
        db.session.rollback()
        form.add_errors({error.field or "": error.message})
        return _render_account(password_form=form, status=422)
    db.session.commit()
    _keep_logged_in(current_user)
    flash(_("Your password is changed."), "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/second-factor", methods=["GET", "POST"])
@roles_required(*ALL_STAFF, during_enrolment=True)
def second_factor():
    user = current_user
    if user.has_second_factor:
        return redirect(url_for("auth.account"))
    secret = session.get(ENROLMENT_KEY)
    if not isinstance(secret, str) or not secret:
        secret = services.new_totp_secret()
        session[ENROLMENT_KEY] = secret
    form = EnrolForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = services.enable_second_factor(user, secret, form.code.data)
        except DomainError as error:
            db.session.rollback()
            form.add_errors({"code": error.message})
            status = 422
        else:
            db.session.commit()
            _keep_logged_in(user)
            session.pop(ENROLMENT_KEY, None)
            # Shown this once, never again: the page must not be cached.
            return private(
                current_app.make_response(render_template("auth/recovery_codes.html", codes=codes))
            )
    elif request.method == "POST":
        status = 422
    html = render_template(
        "auth/enrol.html",
        form=form,
        qr_svg=services.qr_svg(services.totp_uri(user, secret)),
        secret=services.grouped_secret(secret),
        forced=services.must_enrol(user),
    )
    return private(current_app.make_response((html, status)))


@bp.post("/account/second-factor/off")
@roles_required(*ALL_STAFF)
def disable_second_factor():
    form = DisableSecondFactorForm()
    if not form.validate_on_submit():
        return _render_account(disable_form=form, status=422)
    try:
        services.disable_second_factor(current_user, form.code.data)
    except DomainError as error:
        db.session.rollback()
        form.add_errors({"code": error.message})
        return _render_account(disable_form=form, status=422)
    db.session.commit()
    _keep_logged_in(current_user)
    flash(_("The second factor is off."), "success")
    return redirect(url_for("auth.account"))


# --- staff users (organisers) ----------------------------------------------------------


@bp.get("/users")
@roles_required(Role.ORGANISER)
def users():
    return _render_users()


def _render_users(policy_form: PolicyForm | None = None, status: int = 200):
    policy = services.staff_policy()
    form = policy_form or PolicyForm(second_factor_required=policy.second_factor_required)
    html = render_template(
        "auth/users.html",
        users=services.list_staff_users(),
        policy=policy,
        policy_form=form,
        role_label=services.role_label,
    )
    return html, status


@bp.post("/users/policy")
@roles_required(Role.ORGANISER)
def policy():
    form = PolicyForm()
    if not form.validate_on_submit():
        return _render_users(form, 422)
    required = bool(form.second_factor_required.data)
    changed = services.set_second_factor_required(required, actor=current_user.actor)
    db.session.commit()
    if not changed:
        flash(_("The setting is unchanged."), "info")
    elif required:
        flash(
            _(
                "A second factor is now mandatory for organisers and accounting. "
                "Those without one set it up at their next login."
            ),
            "success",
        )
    else:
        flash(_("A second factor is now optional."), "success")
    return redirect(url_for("auth.users"))


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def new_user():
    form = StaffUserForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("auth/user_new.html", form=form), status
    try:
        user = services.create_staff_user(
            form.email.data,
            form.role.data,
            form.password.data,
            name=form.name.data,
            actor=current_user.actor,
        )
    except DomainError as error:
        db.session.rollback()
        form.add_errors({error.field or "": error.message})
        return render_template("auth/user_new.html", form=form), 422
    db.session.commit()
    flash(_("%(who)s can now log in.", who=user.display_name), "success")
    return redirect(url_for("auth.user", user_id=user.id))


def _render_user(user: StaffUser, status: int = 200, **forms):
    html = render_template(
        "auth/user.html",
        user=user,
        role_form=forms.get("role_form") or RoleForm(role=user.role),
        deactivate_form=forms.get("deactivate_form") or DeactivateForm(),
        reactivate_form=ReactivateForm(),
        password_form=forms.get("password_form") or SetPasswordForm(),
        reset_form=forms.get("reset_form") or ResetSecondFactorForm(),
        role_label=services.role_label,
        recovery_left=services.unused_recovery_codes(user) if user.has_second_factor else 0,
    )
    return html, status


@bp.get("/users/<int:user_id>")
@roles_required(Role.ORGANISER)
def user(user_id: int):
    return _render_user(services.get_staff_user(user_id))


def _refused(user: StaffUser, name: str, form, error: DomainError):
    db.session.rollback()
    form.add_errors({error.field or "": error.message})
    # The rollback expired the user: show what is stored, not what was tried.
    db.session.refresh(user)
    return _render_user(
        user, 409 if error.field in (None, "role", "confirm") else 422, **{name: form}
    )


@bp.post("/users/<int:user_id>/role")
@roles_required(Role.ORGANISER)
def user_role(user_id: int):
    user = services.get_staff_user(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _render_user(user, 422, role_form=form)
    try:
        changed = services.change_role(user, form.role.data, actor=current_user.actor)
    except DomainError as error:
        return _refused(user, "role_form", form, error)
    db.session.commit()
    if changed:
        flash(
            _(
                "%(who)s is now: %(role)s.",
                who=user.display_name,
                role=services.role_label(user.role),
            ),
            "success",
        )
    else:
        flash(_("The role is unchanged."), "info")
    if not current_user.has_role(Role.ORGANISER):
        # Organisers who stepped down can no longer open this page.
        return redirect(url_for("backoffice.index"))
    return redirect(url_for("auth.user", user_id=user.id))


@bp.post("/users/<int:user_id>/deactivate")
@roles_required(Role.ORGANISER)
def deactivate_user(user_id: int):
    user = services.get_staff_user(user_id)
    form = DeactivateForm()
    if not form.validate_on_submit():
        return _render_user(user, 422, deactivate_form=form)
    try:
        services.set_active(user, False, actor=current_user.actor)
    except DomainError as error:
        return _refused(user, "deactivate_form", form, error)
    db.session.commit()
    flash(_("%(who)s is deactivated.", who=user.display_name), "success")
    return redirect(url_for("auth.user", user_id=user.id))


@bp.post("/users/<int:user_id>/reactivate")
@roles_required(Role.ORGANISER)
def reactivate_user(user_id: int):
    user = services.get_staff_user(user_id)
    if not ReactivateForm().validate_on_submit():
        return _render_user(user, 422)
    services.set_active(user, True, actor=current_user.actor)
    db.session.commit()
    flash(_("%(who)s is active again.", who=user.display_name), "success")
    return redirect(url_for("auth.user", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
@roles_required(Role.ORGANISER)
def user_password(user_id: int):
    user = services.get_staff_user(user_id)
    form = SetPasswordForm()
    if not form.validate_on_submit():
        return _render_user(user, 422, password_form=form)
    try:
        services.set_password(user, form.password.data, actor=current_user.actor)
    except DomainError as error:
        return _refused(user, "password_form", form, error)
    db.session.commit()
    if user.id == current_user.id:
        _keep_logged_in(user)
    flash(_("%(who)s has a new password.", who=user.display_name), "success")
    return redirect(url_for("auth.user", user_id=user.id))


@bp.post("/users/<int:user_id>/second-factor/reset")
@roles_required(Role.ORGANISER)
def reset_user_second_factor(user_id: int):
    user = services.get_staff_user(user_id)
    form = ResetSecondFactorForm()
    if not form.validate_on_submit():
        return _render_user(user, 422, reset_form=form)
    services.reset_second_factor(user, actor=current_user.actor)
    db.session.commit()
    flash(_("The second factor of %(who)s is off.", who=user.display_name), "success")
    return redirect(url_for("auth.user", user_id=user.id))
