"""The door (check-in role), the ticket PDF behind a manage link, and name badges."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_login import current_user

from conference.auth.models import Role
from conference.auth.services import roles_required
from conference.checkin import services
from conference.checkin.forms import BadgeFilterForm, DoorSearchForm, ScanForm
from conference.core.db import db
from conference.core.i18n import current_language
from conference.core.security import limiter
from conference.events.services import get_edition
from conference.registration.services import find_by_manage_token

bp = Blueprint("checkin", __name__)

DOOR_ROLES = (Role.CHECKIN, Role.ORGANISER)


def _manage_limit() -> str:
    return current_app.config["MANAGE_RATE_LIMIT"]


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the ticket PDF -------------------------------------------------------------------


@bp.get("/m/<token>/ticket/<int:attendee_id>.pdf")
@limiter.limit(_manage_limit)
def ticket_pdf(token: str, attendee_id: int):
    view = find_by_manage_token(token)
    attendee = next((a for a in view.visible_attendees if a.id == attendee_id), None)
    if attendee is None:
        abort(404)
    language = request.args.get("lang") or view.order.language
    if language not in current_app.config["LANGUAGES"]:
        language = view.order.language
    snapshot = services.ticket_snapshot(attendee, language)
    response = Response(services.ticket_pdf_from_snapshot(snapshot), mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'inline; filename="{services.ticket_filename(snapshot)}"'
    )
    response.headers["X-Robots-Tag"] = "noindex"
    return _no_store(response)


# --- the door -------------------------------------------------------------------------


def _door_page(edition, *, answer=None, form=None, status=200):
    search = DoorSearchForm(request.args)
    query = search.q.data if search.validate() else ""
    results = services.search_places(edition, query) if query else []
    return _no_store(
        Response(
            render_template(
                "checkin/door.html",
                edition=edition,
                form=form or ScanForm(formdata=None),
                search=search,
                query=query,
                results=results,
                payload=services.ticket_payload,
                answer=answer,
                reason=services.describe(answer) if answer is not None else None,
                counts=services.door_counts(edition),
                language=current_language(),
            ),
            status=status,
        )
    )


@bp.get("/staff/e/<slug>/checkin")
@roles_required(*DOOR_ROLES)
def door(slug: str):
    return _door_page(get_edition(slug))


@bp.post("/staff/e/<slug>/checkin")
@roles_required(*DOOR_ROLES)
def scan(slug: str):
    edition = get_edition(slug)
    form = ScanForm()
    if not form.validate_on_submit():
        return _door_page(edition, form=form, status=422)
    answer = services.check_in_payload(edition, form.code.data, actor=f"staff:{current_user.id}")
    db.session.commit()
    # The next scan starts with an empty field.
    return _door_page(edition, answer=answer, form=ScanForm(formdata=None))


@bp.get("/staff/e/<slug>/checkin/counts.json")
@roles_required(*DOOR_ROLES)
def counts(slug: str):
    edition = get_edition(slug)
    figures = services.door_counts(edition)
    return _no_store(jsonify(arrived=figures.arrived, expected=figures.expected))


# --- name badges ------------------------------------------------------------------------


def _badge_filter(edition) -> BadgeFilterForm:
    form = BadgeFilterForm(request.args)
    language = current_language()
    form.ticket_type.choices = [(0, "—")] + [
        (t.id, t.display_name(language)) for t in edition.ticket_types
    ]
    if form.ticket_type.data is None:
        form.ticket_type.data = 0
    return form


def _badges_for(edition, form: BadgeFilterForm):
    valid = form.validate()
    return services.badge_list(
        edition,
        ticket_type_id=(form.ticket_type.data or None) if valid else None,
        query=(form.q.data or "") if valid else "",
        arrival=(form.arrival.data or "") if valid else "",
        language=current_language(),
    )


@bp.get("/staff/e/<slug>/badges")
@roles_required(Role.ORGANISER)
def badges(slug: str):
    edition = get_edition(slug)
    form = _badge_filter(edition)
    found = _badges_for(edition, form)
    return render_template(
        "checkin/badges.html",
        edition=edition,
        form=form,
        count=len(found),
        query_string=request.query_string.decode("ascii", "ignore"),
    )


@bp.get("/staff/e/<slug>/badges.pdf")
@roles_required(Role.ORGANISER)
def badges_pdf(slug: str):
    edition = get_edition(slug)
    form = _badge_filter(edition)
    found = _badges_for(edition, form)
    pdf = services.badges_pdf(edition, found, current_language())
    filename = re.sub(r"[^A-Za-z0-9_-]", "", edition.slug) + "-badges.pdf"
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _no_store(response)
