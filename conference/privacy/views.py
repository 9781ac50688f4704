"""The privacy page, a person's data download, and the organiser's erasure screen."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from conference.auth.models import Role
from conference.auth.services import roles_required
from conference.core.db import db, utcnow
from conference.core.errors import DomainError
from conference.core.i18n import current_language
from conference.core.manage_links import manage_limit, private, speak_language_of
from conference.core.security import limiter
from conference.events.models import Edition
from conference.events.services import current_edition, get_edition
from conference.privacy import services
from conference.privacy.forms import EraseForm
from conference.registration.services import find_by_manage_token

bp = Blueprint("privacy", __name__)


@bp.app_template_global()
def personal_data_erasure(edition: Edition):
    """For the edition's back-office page: when its personal data was erased, if it was."""
    return services.erasure_of(edition)


@bp.get("/privacy")
@bp.get("/e/<slug>/privacy")
def page(slug: str | None = None):
    edition = get_edition(slug) if slug else current_edition()
    return render_template(
        "privacy/page.html",
        edition=edition,
        retention_days=services.retention_days(),
        language=current_language(),
    )


@bp.get("/m/<token>/my-data.json")
@limiter.limit(manage_limit)
def download(token: str):
    view = find_by_manage_token(token)
    speak_language_of(view.order.language)
    data = services.personal_data(view, current_language())
    body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    filename = f"{view.order.reference}{'' if view.is_booker else f'-{view.attendee.id}'}.json"
    response = Response(body, content_type="application/json; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="my-data-{filename}"'
    return private(response)


def _render_erasure(edition: Edition, form: EraseForm, status: int = 200):
    return (
        render_template(
            "privacy/erasure.html",
            edition=edition,
            form=form,
            erasure=services.erasure_of(edition),
            due_on=services.erasure_due_on(edition),
            has_ended=edition.ends_at <= utcnow(),
        ),
        status,
    )


@bp.get("/staff/e/<slug>/privacy")
@roles_required(Role.ORGANISER)
def erasure(slug: str):
    return _render_erasure(get_edition(slug), EraseForm())


@bp.post("/staff/e/<slug>/privacy/erase")
@roles_required(Role.ORGANISER)
def erase(slug: str):
    edition = get_edition(slug)
    form = EraseForm()
    if not form.validate_on_submit():
        return _render_erasure(edition, form, 422)
    try:
        result = services.erase_edition(edition, actor=current_user.actor)
    except DomainError as error:
        db.session.rollback()
        form.form_errors.append(error.message)
        return _render_erasure(edition, form, 409)
    db.session.commit()
    if result.first_time:
        flash(_("The personal data of the edition was erased."), "success")
    else:
        flash(_("The edition had been erased before; anything left was erased now."), "info")
    return redirect(url_for("privacy.erasure", slug=edition.slug))


def erased_link_page() -> Response | None:
    """For a NotFound on a page with a link token: a 410 page if its edition was erased."""
    token = (request.view_args or {}).get("token")
    if not isinstance(token, str):
        return None
    edition = services.erased_link_edition(token)
    if edition is None:
        return None
    html = render_template(
        "privacy/erased.html", edition=edition, erasure=services.erasure_of(edition)
    )
    return private(Response(html, status=410))
