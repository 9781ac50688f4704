"""Transfer pages: the attendee's or booker's form behind the manage link, and the
organiser's screens (requests to approve, any place at any time, a place's history)."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from conference.auth.models import Role
from conference.auth.services import roles_required
from conference.core.db import db
from conference.core.errors import DomainError
from conference.core.i18n import current_language
from conference.core.manage_links import manage_limit as _manage_limit
from conference.core.manage_links import private as _private
from conference.core.manage_links import speak_language_of as _speak_language_of
from conference.core.security import limiter
from conference.events.services import get_edition
from conference.registration.services import find_by_manage_token
from conference.transfers import services
from conference.transfers.forms import DecisionForm, OutsideRuleForm, TransferForm
from conference.transfers.services import (
    InvalidTransfer,
    OutsideOrganisation,
    TransferConflict,
    TransferRefused,
)

bp = Blueprint("transfers", __name__)


# --- the attendee's and booker's form ---------------------------------------------------


def _render_form(view, attendee, token, form, *, status=200, outside=None, error=None):
    order = view.order
    edition = order.edition
    return _private(
        Response(
            render_template(
                "transfers/transfer.html",
                view=view,
                order=order,
                edition=edition,
                attendee=attendee,
                token=token,
                form=form,
                is_open=services.transfer_open(edition),
                pending=services.pending_request(attendee),
                outside=outside,
                error=error,
                language=current_language(),
            ),
            status=status,
        )
    )


@bp.route("/m/<token>/transfer/<int:attendee_id>", methods=["GET", "POST"])
@limiter.limit(_manage_limit)
def transfer_place(token: str, attendee_id: int):
    view = find_by_manage_token(token)
    attendee = next((a for a in view.visible_attendees if a.id == attendee_id), None)
    if attendee is None:
        abort(404)
    _speak_language_of(view.order.language)
    form = TransferForm()
    if request.method == "GET":
        form.version.data = attendee.ticket_version
        return _render_form(view, attendee, token, form)
    if not form.validate():
        return _render_form(view, attendee, token, form, status=422)
    requester_email = view.order.booker_email if view.is_booker else attendee.email
    try:
        result = services.request_transfer(
            attendee,
            form.colleague(),
            expected_version=form.version.data,
            requested_by="booker" if view.is_booker else "attendee",
            requester_email=requester_email,
            confirmed_outside=bool(form.confirm_outside.data),
        )
    except InvalidTransfer as error:
        db.session.rollback()
        form.add_errors(error.errors)
        return _render_form(view, attendee, token, form, status=422)
    except OutsideOrganisation as error:
        db.session.rollback()
        return _render_form(view, attendee, token, form, status=422, outside=error)
    except (TransferRefused, TransferConflict) as error:
        db.session.rollback()
        return _render_form(view, attendee, token, form, status=409, error=error.message)
    db.session.commit()
    if result.is_pending:
        flash(
            _(
                "Your request to hand the place to %(name)s has been sent to the organiser. "
                "You will get an e-mail when it has been decided; until then the ticket is "
                "unchanged.",
                name=result.transfer.to_name,
            ),
            "info",
        )
    else:
        flash(
            _(
                "The place now belongs to %(name)s, who has received a new ticket by e-mail. "
                "The old ticket is no longer valid.",
                name=result.transfer.to_name,
            ),
            "success",
        )
    # The attendee's own link now only says that the place was handed on.
    return redirect(url_for("registration.manage", token=token), code=303)


# --- the organiser's screens ------------------------------------------------------------


def _render_overview(edition, rule_form=None, status=200):
    pending = services.pending_requests(edition)
    recent = services.recent_transfers(edition)
    actors = [t.requested_by for t in pending + recent] + [t.decided_by or "" for t in recent]
    rule_form = rule_form or OutsideRuleForm(rule=edition.transfer_outside_domain)
    return (
        render_template(
            "transfers/overview.html",
            edition=edition,
            pending=pending,
            recent=recent,
            rule_form=rule_form,
            decision_form=DecisionForm(),
            names=services.staff_names(actors),
            actor_label=services.actor_label,
            domains=services.organisation_domains,
            closed_reason=services.closed_reason,
        ),
        status,
    )


@bp.get("/staff/e/<slug>/transfers")
@roles_required(Role.ORGANISER)
def overview(slug: str):
    return _render_overview(get_edition(slug))


@bp.post("/staff/e/<slug>/transfers/rule")
@roles_required(Role.ORGANISER)
def change_rule(slug: str):
    edition = get_edition(slug)
    form = OutsideRuleForm()
    if not form.validate_on_submit():
        return _render_overview(edition, form, 422)
    changed = services.set_outside_domain_rule(edition, form.rule.data, actor=current_user.actor)
    db.session.commit()
    flash(_("The rule is saved.") if changed else _("The rule is unchanged."), "success")
    return redirect(url_for("transfers.overview", slug=edition.slug), code=303)


@bp.post("/staff/e/<slug>/transfers/<int:transfer_id>/approve")
@roles_required(Role.ORGANISER)
def approve(slug: str, transfer_id: int):
    edition = get_edition(slug)
    transfer = services.get_request(edition, transfer_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render_overview(edition, status=422)
    try:
        result = services.approve_transfer(transfer, actor=current_user.actor)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_overview(edition, status=409)
    db.session.commit()
    flash(
        _(
            "Approved: the place now belongs to %(name)s, who has received a new ticket.",
            name=result.transfer.to_name,
        ),
        "success",
    )
    return redirect(url_for("transfers.overview", slug=edition.slug), code=303)


@bp.post("/staff/e/<slug>/transfers/<int:transfer_id>/decline")
@roles_required(Role.ORGANISER)
def decline(slug: str, transfer_id: int):
    edition = get_edition(slug)
    transfer = services.get_request(edition, transfer_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        flash(form.reason.errors[0] if form.reason.errors else _("Check the form."), "error")
        return _render_overview(edition, status=422)
    try:
        services.decline_transfer(
            transfer, actor=current_user.actor, reason=(form.reason.data or "").strip()
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_overview(edition, status=409)
    db.session.commit()
    flash(_("Declined. The person who asked has been told."), "success")
    return redirect(url_for("transfers.overview", slug=edition.slug), code=303)


def _render_place(edition, attendee, form=None, status=200, error=None):
    transfers = services.place_transfers(attendee)
    history = services.place_history(attendee)
    actors = [h.actor for h in history] + [t.requested_by for t in transfers]
    if form is None:
        form = TransferForm()
        form.version.data = attendee.ticket_version
    return (
        render_template(
            "transfers/place.html",
            edition=edition,
            attendee=attendee,
            order=attendee.order,
            transfers=transfers,
            history=history,
            form=form,
            error=error,
            outside=services.is_outside_organisation,
            names=services.staff_names(actors),
            actor_label=services.actor_label,
            history_label=services.history_label,
            closed_reason=services.closed_reason,
        ),
        status,
    )


@bp.route("/staff/e/<slug>/places/<int:attendee_id>", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def place(slug: str, attendee_id: int):
    edition = get_edition(slug)
    attendee = services.get_place(edition, attendee_id)
    if request.method == "GET":
        return _render_place(edition, attendee)
    form = TransferForm()
    if not form.validate_on_submit():
        return _render_place(edition, attendee, form, 422)
    try:
        result = services.organiser_transfer(
            attendee, form.colleague(), expected_version=form.version.data, actor=current_user.actor
        )
    except InvalidTransfer as error:
        db.session.rollback()
        form.add_errors(error.errors)
        return _render_place(edition, attendee, form, 422)
    except DomainError as error:
        db.session.rollback()
        return _render_place(edition, attendee, form, 409, error=error.message)
    db.session.commit()
    flash(
        _(
            "The place now belongs to %(name)s, who has received a new ticket by e-mail.",
            name=result.transfer.to_name,
        ),
        "success",
    )
    return redirect(url_for("transfers.place", slug=edition.slug, attendee_id=attendee.id), 303)
