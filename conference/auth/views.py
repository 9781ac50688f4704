"""Staff login and logout."""

from __future__ import annotations

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

from conference.auth.forms import LoginForm
from conference.auth.services import authenticate, safe_next_url
from conference.core.db import db
from conference.core.security import limiter

bp = Blueprint("auth", __name__, url_prefix="/staff")


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _after_login_url(target: str | None) -> str:
    return safe_next_url(target) or url_for("backoffice.index")


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
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            # One message for an unknown address, a wrong password and a
            # deactivated account, so the form reveals nothing about who is staff.
            error = _("The e-mail address or password is not correct.")
        else:
            language = session.get("lang")
            # A fresh session on login: nothing from before carries over.
            session.clear()
            if language:
                session["lang"] = language
            login_user(user)
            db.session.commit()
            return redirect(_after_login_url(form.next.data))
    return render_template("auth/login.html", form=form, error=error)


@bp.post("/logout")
def logout():
    language = session.get("lang")
    logout_user()
    session.clear()
    if language:
        session["lang"] = language
    flash(_("You are logged out."), "success")
    return redirect(url_for("auth.login"))
