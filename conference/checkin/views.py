"""The door (check-in role), the ticket PDF behind a manage link, and name badges."""

from __future__ import annotations

import re
import time
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from conference.auth.models import Role
from conference.auth.services import roles_required
from conference.checkin import services
from conference.checkin.forms import BadgeFilterForm, DoorSearchForm, ScanForm, UndoCheckInForm
from conference.core.db import db
from conference.core.errors import DomainError
from conference.core.i18n import current_language
from conference.core.manage_links import manage_limit as _manage_limit
from conference.core.manage_links import private as _private
from conference.core.security import limiter
from conference.events.services import get_edition
from conference.registration.services import find_by_manage_token

bp = Blueprint("checkin", __name__)

DOOR_ROLES = (Role.CHECKIN, Role.ORGANISER)


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
    return _private(response)


# --- the door -------------------------------------------------------------------------


def _door_page(edition, *, answer=None, form=None, status=200):
    search = DoorSearchForm(request.args)
    query = search.q.data if search.validate() else ""
    results = services.search_places(edition, query) if query else []
    pass_results = services.search_passes(edition, query) if query else []
    return _no_store(
        Response(
            render_template(
                "checkin/door.html",
                edition=edition,
                form=form or ScanForm(formdata=None),
                undo_form=UndoCheckInForm(formdata=None),
                search=search,
                query=query,
                results=results,
                pass_results=pass_results,
                payload=services.ticket_payload,
                pass_payload=services.pass_payload,
                pass_is_valid=services.pass_is_valid,
                answer=answer,
                reason=services.describe(answer) if answer is not None else None,
                counts=services.door_counts(edition),
                language=current_language(),
            ),
            status=status,
        )
    )


#: The answer to a scan waits in the session for the page the scan redirects to,
#: and is shown once. Older than this it is dropped (a page opened much later).
ANSWER_SECONDS = 60
_ANSWER_KEY = "door_answer"


def _keep_answer(edition, answer: services.CheckInAnswer) -> None:
    """Keep the answer for the GET after the redirect: ids and the outcome, no names."""
    session[_ANSWER_KEY] = {
        "edition": edition.id,
        "result": str(answer.result),
        "attendee": answer.attendee.id if answer.attendee is not None else None,
        "pass": answer.exhibitor_pass.id if answer.exhibitor_pass is not None else None,
        "checked_in_at": answer.checked_in_at.isoformat() if answer.checked_in_at else None,
        "stored": time.time(),
    }


def _take_answer(edition) -> services.CheckInAnswer | None:
    """The answer kept by the last scan, once; None after a reload or for another edition."""
    kept = session.pop(_ANSWER_KEY, None)
    if not isinstance(kept, dict) or kept.get("edition") != edition.id:
        return None
    if not 0 <= time.time() - float(kept.get("stored") or 0) <= ANSWER_SECONDS:
        return None
    try:
        result = services.ScanResult(kept.get("result"))
        at = kept.get("checked_in_at")
        checked_in_at = datetime.fromisoformat(at) if at else None
    except (ValueError, TypeError):
        return None
    attendee = services.get_door_place(edition, kept.get("attendee"))
    exhibitor_pass = services.get_door_pass(edition, kept.get("pass"))
    return services.CheckInAnswer(result, attendee, checked_in_at, exhibitor_pass)


@bp.get("/staff/e/<slug>/checkin")
@roles_required(*DOOR_ROLES)
def door(slug: str):
    edition = get_edition(slug)
    return _door_page(edition, answer=_take_answer(edition))


@bp.post("/staff/e/<slug>/checkin")
@roles_required(*DOOR_ROLES)
def scan(slug: str):
    edition = get_edition(slug)
    form = ScanForm()
    if not form.validate_on_submit():
        return _door_page(edition, form=form, status=422)
    answer = services.check_in_payload(edition, form.code.data, actor=current_user.actor)
    db.session.commit()
    # Post/redirect/get: reloading the answer page does not send the scan again
    # (which would turn the green answer red). A check-in from the search results
    # goes back to the same results.
    _keep_answer(edition, answer)
    search = DoorSearchForm(request.args)
    query = search.q.data if search.validate() and search.q.data else None
    return redirect(url_for("checkin.door", slug=edition.slug, q=query), code=303)


@bp.post("/staff/e/<slug>/places/<int:attendee_id>/undo-check-in")
@roles_required(Role.ORGANISER)
def undo_check_in(slug: str, attendee_id: int):
    """An organiser takes back a mistaken check-in, from the place's page."""
    edition = get_edition(slug)
    attendee = services.get_door_place(edition, attendee_id)
    if attendee is None:
        abort(404)
    back = url_for("transfers.place", slug=edition.slug, attendee_id=attendee.id)
    form = UndoCheckInForm()
    if not form.validate_on_submit():
        flash(_("Tick the box to confirm that the check-in is undone."), "error")
        return redirect(back, code=303)
    try:
        services.undo_check_in(attendee, actor=current_user.actor)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back, code=303)
    db.session.commit()
    flash(
        _("The check-in is undone: %(name)s is expected at the door again.", name=attendee.name),
        "success",
    )
    return redirect(back, code=303)


@bp.post("/staff/e/<slug>/exhibitor-passes/<int:pass_id>/undo-check-in")
@roles_required(Role.ORGANISER)
def undo_pass_check_in(slug: str, pass_id: int):
    """An organiser takes back a mistaken check-in of an exhibitor pass, from the door's
    search results (a pass has no page of its own); back to the same results."""
    edition = get_edition(slug)
    exhibitor_pass = services.get_door_pass(edition, pass_id)
    if exhibitor_pass is None:
        abort(404)
    search = DoorSearchForm(request.args)
    query = search.q.data if search.validate() and search.q.data else None
    back = url_for("checkin.door", slug=edition.slug, q=query)
    form = UndoCheckInForm()
    if not form.validate_on_submit():
        flash(_("Tick the box to confirm that the check-in is undone."), "error")
        return redirect(back, code=303)
    try:
        services.undo_pass_check_in(exhibitor_pass, actor=current_user.actor)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back, code=303)
    db.session.commit()
    flash(
        _(
            "The check-in is undone: %(name)s is expected at the door again.",
            name=exhibitor_pass.name,
        ),
        "success",
    )
    return redirect(back, code=303)


@bp.get("/staff/e/<slug>/checkin/counts.json")
@roles_required(*DOOR_ROLES)
def counts(slug: str):
    edition = get_edition(slug)
    figures = services.door_counts(edition)
    return _no_store(
        jsonify(
            arrived=figures.arrived,
            expected=figures.expected,
            exhibitors_arrived=figures.exhibitors_arrived,
            exhibitors_expected=figures.exhibitors_expected,
        )
    )


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
    """The badges the filter asks for; None when the filter is invalid (never all of them)."""
    if not form.validate():
        # WTForms' own words for a bad choice are English only ("could not coerce").
        if form.ticket_type.errors:
            form.ticket_type.errors = [_("Choose a ticket type from the list.")]
        if form.arrival.errors:
            form.arrival.errors = [_("Choose one of the options.")]
        if form.kind.errors:
            form.kind.errors = [_("Choose one of the options.")]
        return None
    return services.badge_list(
        edition,
        ticket_type_id=form.ticket_type.data or None,
        query=form.q.data or "",
        arrival=form.arrival.data or "",
        kind=form.kind.data or "",
        language=current_language(),
    )


def _badges_page(edition, form, found, status=200):
    return (
        render_template(
            "checkin/badges.html",
            edition=edition,
            form=form,
            count=len(found) if found is not None else None,
            query_string=request.query_string.decode("ascii", "ignore"),
        ),
        status,
    )


@bp.get("/staff/e/<slug>/badges")
@roles_required(Role.ORGANISER)
def badges(slug: str):
    edition = get_edition(slug)
    form = _badge_filter(edition)
    found = _badges_for(edition, form)
    return _badges_page(edition, form, found, 200 if found is not None else 422)


@bp.get("/staff/e/<slug>/badges.pdf")
@roles_required(Role.ORGANISER)
def badges_pdf(slug: str):
    edition = get_edition(slug)
    form = _badge_filter(edition)
    found = _badges_for(edition, form)
    if found is None:
        return _badges_page(edition, form, None, 422)
    pdf = services.badges_pdf(edition, found, current_language())
    filename = re.sub(r"[^A-Za-z0-9_-]", "", edition.slug) + "-badges.pdf"
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _no_store(response)
