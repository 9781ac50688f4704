"""Organiser screens: editions, the edition dashboard, capacity, registrants."""

from __future__ import annotations

import re

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from conference.auth.models import Role
from conference.auth.services import roles_required
from conference.backoffice import services
from conference.backoffice.forms import CapacityForm, RegistrantSearchForm
from conference.core.db import db
from conference.core.errors import CapacityConflict
from conference.core.i18n import current_language
from conference.events.models import Edition
from conference.events.services import get_edition

bp = Blueprint("backoffice", __name__, url_prefix="/staff")

ALL_STAFF = (Role.ORGANISER, Role.ACCOUNTING, Role.CHECKIN)


def _render_dashboard(edition: Edition, form: CapacityForm, status: int = 200):
    dashboard = services.edition_dashboard(edition)
    return (
        render_template("backoffice/dashboard.html", d=dashboard, edition=edition, form=form),
        status,
    )


@bp.get("/")
@roles_required(*ALL_STAFF)
def index():
    return render_template("backoffice/index.html", editions=services.list_editions())


@bp.get("/e/<slug>")
@roles_required(Role.ORGANISER)
def dashboard(slug: str):
    edition = get_edition(slug)
    form = CapacityForm(capacity=services.edition_dashboard(edition).capacity)
    return _render_dashboard(edition, form)


@bp.post("/e/<slug>/capacity")
@roles_required(Role.ORGANISER)
def change_capacity(slug: str):
    edition = get_edition(slug)
    form = CapacityForm()
    if not form.validate_on_submit():
        return _render_dashboard(edition, form, 422)
    try:
        change = services.set_capacity(
            edition, form.capacity.data, actor=f"staff:{current_user.id}"
        )
    except CapacityConflict as error:
        db.session.rollback()
        form.capacity.errors = [*form.capacity.errors, error.message]
        return _render_dashboard(edition, form, 422)
    db.session.commit()
    if not change.changed:
        flash(_("The capacity is unchanged."), "info")
    else:
        message = _("The capacity is now %(capacity)d places.", capacity=change.quota.capacity)
        offers = ngettext(
            "%(num)d waiting-list offer was sent.",
            "%(num)d waiting-list offers were sent.",
            change.offers_sent,
        )
        flash(f"{message} {offers}", "success")
    return redirect(url_for("backoffice.dashboard", slug=edition.slug))


@bp.get("/e/<slug>/registrants")
@roles_required(Role.ORGANISER)
def registrants(slug: str):
    edition = get_edition(slug)
    form = RegistrantSearchForm(request.args)
    query = form.q.data if form.validate() else ""
    page = request.args.get("page", 1, type=int)
    result = services.search_registrants(edition, query, page=page, language=current_language())
    return render_template(
        "backoffice/registrants.html", edition=edition, form=form, query=query, result=result
    )


@bp.get("/e/<slug>/registrants.csv")
@roles_required(Role.ORGANISER)
def registrants_csv(slug: str):
    edition = get_edition(slug)
    form = RegistrantSearchForm(request.args)
    query = form.q.data if form.validate() else ""
    body = services.registrants_csv(edition, query, language=current_language())
    filename = re.sub(r"[^A-Za-z0-9_-]", "", edition.slug) + "-registrants.csv"
    return Response(
        body.encode("utf-8"),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # Personal data: keep it out of shared caches and the browser cache.
            "Cache-Control": "no-store",
        },
        content_type="text/csv; charset=utf-8",
    )
