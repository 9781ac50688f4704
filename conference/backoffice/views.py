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
from conference.backoffice.forms import CancelForm, CapacityForm, RegistrantSearchForm
from conference.core.db import db
from conference.core.errors import CapacityConflict, DomainError
from conference.core.i18n import current_language
from conference.events.models import Edition
from conference.events.services import get_edition
from conference.payments.services import send_pending_refunds
from conference.registration.services import cancel_attendee, cancel_order

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
        change = services.set_capacity(edition, form.capacity.data, actor=current_user.actor)
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


def _render_order(edition: Edition, reference: str, form: CancelForm | None = None, status=200):
    file = services.order_file(edition, reference)
    return (
        render_template(
            "backoffice/order.html",
            edition=edition,
            file=file,
            order=file.order,
            form=form or CancelForm(),
        ),
        status,
    )


@bp.get("/e/<slug>/orders/<reference>")
@roles_required(Role.ORGANISER)
def order(slug: str, reference: str):
    return _render_order(get_edition(slug), reference)


@bp.post("/e/<slug>/orders/<reference>/cancel")
@roles_required(Role.ORGANISER)
def cancel(slug: str, reference: str):
    edition = get_edition(slug)
    file = services.order_file(edition, reference)
    form = CancelForm()
    if not form.validate_on_submit():
        return _render_order(edition, reference, form, 422)
    actor = current_user.actor
    reason = (form.reason.data or "").strip()
    attendee = (
        services.attendee_of(file.order, form.attendee_id.data) if form.attendee_id.data else None
    )
    if attendee is not None and form.version.data is None:
        # A form without the place's version (an old page): it cannot tell whether
        # the place changed hands since.
        flash(_("The page is out of date. Reload it and try again."), "error")
        return _render_order(edition, reference, form, 422)
    try:
        if attendee is not None:
            result = cancel_attendee(
                attendee, actor=actor, reason=reason, expected_version=form.version.data
            )
        else:
            result = cancel_order(file.order, actor=actor, reason=reason)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_order(edition, reference, form, 409)
    db.session.commit()
    refunds = send_pending_refunds(order_id=file.order.id) if result.refund_ore else None
    message = ngettext(
        "%(num)d place was cancelled.", "%(num)d places were cancelled.", len(result.attendees)
    )
    if result.credit_note is not None:
        message += " " + _(
            "Credit note %(number)s was issued and sent to the booker.",
            number=result.credit_note.number,
        )
    if refunds is not None and refunds.failed:
        # Recorded, and retried by the worker with the same idempotency key.
        message += " " + _(
            "Stripe did not confirm the card refund just now; it is recorded and will be "
            "sent again automatically."
        )
    elif result.refund_ore:
        message += " " + _("A card refund was requested from Stripe.")
    flash(message, "success")
    return redirect(url_for("backoffice.order", slug=edition.slug, reference=file.order.reference))
