"""Organiser screens for writing to attendees: compose, preview, send, history."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from conference.auth.models import Role
from conference.auth.services import roles_required
from conference.communication import services
from conference.communication.forms import MessageForm, SendForm
from conference.core.db import db
from conference.core.errors import DomainError
from conference.core.i18n import current_language
from conference.events.models import Edition
from conference.events.services import get_edition
from conference.transfers.services import actor_label, staff_names

bp = Blueprint("communication", __name__, url_prefix="/staff/e/<slug>/messages")


def _form(form_class: type[MessageForm], edition: Edition) -> MessageForm:
    form = form_class()
    form.offer(services.audience_choices(edition), current_language())
    return form


def _render_compose(
    edition: Edition,
    form: MessageForm,
    *,
    preview: services.Preview | None = None,
    send_form: SendForm | None = None,
    status: int = 200,
):
    return (
        render_template(
            "communication/compose.html",
            edition=edition,
            form=form,
            preview=preview,
            send_form=send_form,
            ticket_type_name=lambda ident: services.ticket_type_name(
                edition, ident, current_language()
            ),
        ),
        status,
    )


def _refused(form: MessageForm, error: DomainError) -> None:
    if error.field:
        form.add_errors({error.field: error.message})
    else:
        form.form_errors.append(error.message)


def _checked(form: MessageForm, edition: Edition, send_form: SendForm | None = None):
    """The preview of a valid form, or None with the errors on the form."""
    if form.ticket_type_is_garbled():
        form.add_errors({"ticket_type_id": _("Choose one of the edition's ticket types.")})
        return None
    try:
        return services.preview(edition, form.audience(), form.text())
    except DomainError as error:
        _refused(form, error)
        return None


@bp.get("")
@roles_required(Role.ORGANISER)
def history(slug: str):
    edition = get_edition(slug)
    return render_template(
        "communication/history.html",
        edition=edition,
        rows=services.message_history(edition),
    )


@bp.get("/new")
@roles_required(Role.ORGANISER)
def compose(slug: str):
    edition = get_edition(slug)
    return _render_compose(edition, _form(MessageForm, edition))


@bp.post("/preview")
@roles_required(Role.ORGANISER)
def preview(slug: str):
    edition = get_edition(slug)
    form = _form(MessageForm, edition)
    if not form.validate_on_submit():
        return _render_compose(edition, form, status=422)
    shown = _checked(form, edition)
    if shown is None:
        return _render_compose(edition, form, status=422)
    send_form = _form(SendForm, edition)
    send_form.expected_count.data = len(shown.recipients)
    return _render_compose(edition, form, preview=shown, send_form=send_form)


@bp.post("/send")
@roles_required(Role.ORGANISER)
def send(slug: str):
    edition = get_edition(slug)
    send_form = _form(SendForm, edition)
    valid = send_form.validate_on_submit()
    shown = _checked(send_form, edition)
    if not valid or shown is None:
        return _render_compose(edition, send_form, preview=shown, send_form=send_form, status=422)
    try:
        message = services.send_message(
            edition,
            send_form.audience(),
            send_form.text(),
            actor=current_user.actor,
            expected_count=send_form.expected_count.data,
        )
    except DomainError as error:
        db.session.rollback()
        shown = _checked(send_form, edition)
        if shown is not None:
            send_form.expected_count.data = len(shown.recipients)
        _refused(send_form, error)
        return _render_compose(edition, send_form, preview=shown, send_form=send_form, status=409)
    db.session.commit()
    flash(
        ngettext(
            "The message was queued for %(num)d recipient.",
            "The message was queued for %(num)d recipients.",
            message.recipient_count,
        ),
        "success",
    )
    return redirect(url_for("communication.message", slug=edition.slug, message_id=message.id))


@bp.get("/<int:message_id>")
@roles_required(Role.ORGANISER)
def message(slug: str, message_id: int):
    edition = get_edition(slug)
    sent = services.get_message(edition, message_id)
    return render_template(
        "communication/message.html",
        edition=edition,
        message=sent,
        copies=services.delivered_copies(sent),
        sender=actor_label(sent.sent_by, staff_names([sent.sent_by])),
        ticket_type_name=lambda ident: services.ticket_type_name(
            edition, ident, current_language()
        ),
    )
