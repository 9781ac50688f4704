"""Organiser screens: editions, the edition dashboard, capacity, registrants, and the
exhibition hall (its setup, the stands and bookings, the exhibitor list)."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from conference.auth.models import Role
from conference.auth.services import roles_required
from conference.backoffice import services
from conference.backoffice.forms import (
    CODE_PRICING_DISCOUNT,
    CODE_PRICING_FREE,
    CODE_PRICING_NORMAL,
    AccessCodeForm,
    AddonForm,
    ApproveForm,
    AttendeeEditForm,
    BookerEditForm,
    BookingCancelForm,
    CancelForm,
    CapacityForm,
    DeclineForm,
    DeleteForm,
    EditionCopyForm,
    ExportForm,
    HallForm,
    MoveForm,
    PackageForm,
    PlaceMoveForm,
    RegistrantSearchForm,
    ResendForm,
    StaffRegistrationForm,
    StandForm,
    TicketTypeForm,
    kroner_input,
)
from conference.backoffice.services import ExportList
from conference.checkin.services import door_counts
from conference.core.db import db
from conference.core.errors import CapacityConflict, DomainError, NotEnoughPlaces
from conference.core.i18n import current_language
from conference.core.money import format_dkk
from conference.events import services as event_services
from conference.events.models import Edition
from conference.events.services import (
    copenhagen_date,
    get_edition,
    public_ticket_types,
    registration_state,
    ticket_type_for_code,
)
from conference.payments.services import send_pending_refunds
from conference.registration import services as registration_services
from conference.registration.forms import MAX_GROUP_SIZE
from conference.registration.services import (
    InvalidBooking,
    cancel_attendee,
    cancel_order,
    check_booking,
)
from conference.stands import services as stand_services
from conference.stands.models import BookingMode, StandBookingStatus, StandHall, StandStatus

bp = Blueprint("backoffice", __name__, url_prefix="/staff")

ALL_STAFF = (Role.ORGANISER, Role.ACCOUNTING, Role.CHECKIN)


def _render_dashboard(edition: Edition, form: CapacityForm, status: int = 200):
    dashboard = services.edition_dashboard(edition)
    return (
        render_template(
            "backoffice/dashboard.html",
            d=dashboard,
            stands=services.stand_counts(edition),
            revenue=services.edition_revenue(edition),
            door=door_counts(edition),
            charts=services.dashboard_charts(edition, current_language()),
            edition=edition,
            form=form,
        ),
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
        "backoffice/registrants.html",
        edition=edition,
        form=form,
        query=query,
        result=result,
        documents=services.orders_by_document(edition, query),
        export_form=_export_form(edition),
    )


def _export_form(edition: Edition) -> ExportForm:
    form = ExportForm(request.args)
    form.list.choices = [(item.value, services.export_list_label(item)) for item in ExportList]
    form.organisation.choices = [("", _("All organisations"))] + [
        (name, name) for name in services.edition_organisations(edition)
    ]
    return form


def _export(slug: str, extension: str):
    edition = get_edition(slug)
    form = _export_form(edition)
    # An unknown list or organisation in the address is an error, not another list.
    if not form.validate() or (form.list.data and form.list.data not in set(ExportList)):
        abort(404)
    table = services.export_table(
        edition,
        form.list.data or ExportList.PARTICIPANTS.value,
        form.organisation.data or None,
        language=current_language(),
    )
    name = re.sub(r"[^A-Za-z0-9_-]", "", edition.slug) + "-" + (form.list.data or "participants")
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{extension}"',
        # Personal data: keep it out of shared caches and the browser cache.
        "Cache-Control": "no-store",
    }
    if extension == "csv":
        return Response(
            services.export_csv(table).encode("utf-8"),
            headers=headers,
            content_type="text/csv; charset=utf-8",
        )
    return Response(
        services.export_xlsx(table),
        headers=headers,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@bp.get("/e/<slug>/registrants/export.csv")
@roles_required(Role.ORGANISER)
def registrants_export_csv(slug: str):
    return _export(slug, "csv")


@bp.get("/e/<slug>/registrants/export.xlsx")
@roles_required(Role.ORGANISER)
def registrants_export_xlsx(slug: str):
    return _export(slug, "xlsx")


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


def _edit_form(attendee) -> AttendeeEditForm:
    return AttendeeEditForm(
        formdata=None,
        prefix=f"p{attendee.id}",
        version=attendee.ticket_version,
        name=attendee.name,
        email=attendee.email,
        job_title=attendee.job_title,
        dietary=attendee.dietary,
    )


def _move_form(attendee, formdata=False) -> PlaceMoveForm:
    extra = {} if formdata else {"formdata": None, "version": attendee.ticket_version}
    form = PlaceMoveForm(prefix=f"m{attendee.id}", **extra)
    form.ticket_type_id.choices = [
        (
            ticket_type.id,
            f"{ticket_type.display_name(current_language())} · "
            f"{format_dkk(ticket_type.price_net_ore)} {_('+ VAT')}",
        )
        for ticket_type in services.movable_ticket_types(attendee)
    ]
    return form


def _render_order(
    edition: Edition,
    reference: str,
    form: CancelForm | None = None,
    status=200,
    *,
    edit_form: AttendeeEditForm | None = None,
    move_form: PlaceMoveForm | None = None,
    booker_form: BookerEditForm | None = None,
    open_attendee: int | None = None,
):
    """The order page; a form that was refused is shown (open) with its errors."""
    file = services.order_file(edition, reference)
    order = file.order
    edit_forms = {a.id: _edit_form(a) for a in order.attendees}
    move_forms = {a.id: _move_form(a) for a in order.attendees}
    if open_attendee is not None:
        if edit_form is not None:
            edit_forms[open_attendee] = edit_form
        if move_form is not None:
            move_forms[open_attendee] = move_form
    return (
        render_template(
            "backoffice/order.html",
            edition=edition,
            file=file,
            order=order,
            form=form or CancelForm(),
            edit_forms=edit_forms,
            move_forms=move_forms,
            open_edit=open_attendee if edit_form is not None else None,
            open_move=open_attendee if move_form is not None else None,
            booker_form=booker_form
            or BookerEditForm(
                formdata=None,
                name=order.booker_name,
                email=order.booker_email,
                phone=order.booker_phone,
            ),
            booker_open=booker_form is not None,
            resend_form=ResendForm(),
            messages=services.order_messages(order),
            snapshot_notices=services.invoice_snapshot_notices(order, file.documents),
            mail_kind_label=services.mail_kind_label,
            mail_status_label=services.mail_status_label,
        ),
        status,
    )


def _back_to_order(edition: Edition, order):
    return redirect(
        url_for("backoffice.order", slug=edition.slug, reference=order.reference), code=303
    )


def _put_errors(form, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            flash(message, "error")


@bp.post("/e/<slug>/orders/<reference>/places/<int:attendee_id>/edit")
@roles_required(Role.ORGANISER)
def edit_attendee(slug: str, reference: str, attendee_id: int):
    edition = get_edition(slug)
    order = services.order_file(edition, reference).order
    attendee = services.attendee_of(order, str(attendee_id))
    form = AttendeeEditForm(prefix=f"p{attendee.id}")

    def refused(status: int):
        return _render_order(
            edition, reference, status=status, edit_form=form, open_attendee=attendee.id
        )

    if not form.validate_on_submit():
        return refused(422)
    details = services.PersonDetails(
        name=form.name.data or "",
        email=form.email.data or "",
        job_title=form.job_title.data or "",
        dietary=form.dietary.data or "",
    )
    try:
        change = services.edit_attendee(
            attendee, details, expected_version=form.version.data, actor=current_user.actor
        )
    except services.InvalidDetails as error:
        db.session.rollback()
        _put_errors(form, error.errors)
        return refused(422)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return refused(409)
    db.session.commit()
    if change:
        flash(_("The details of %(name)s are saved.", name=attendee.name), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return _back_to_order(edition, order)


@bp.post("/e/<slug>/orders/<reference>/booker")
@roles_required(Role.ORGANISER)
def edit_booker(slug: str, reference: str):
    edition = get_edition(slug)
    order = services.order_file(edition, reference).order
    form = BookerEditForm()
    if not form.validate_on_submit():
        return _render_order(edition, reference, status=422, booker_form=form)
    contact = services.ContactDetails(
        name=form.name.data or "", email=form.email.data or "", phone=form.phone.data or ""
    )
    try:
        change = services.edit_booker(order, contact, actor=current_user.actor)
    except services.InvalidDetails as error:
        db.session.rollback()
        _put_errors(form, error.errors)
        return _render_order(edition, reference, status=422, booker_form=form)
    db.session.commit()
    if change:
        flash(_("The booker's contact details are saved."), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return _back_to_order(edition, order)


@bp.post("/e/<slug>/orders/<reference>/places/<int:attendee_id>/move")
@roles_required(Role.ORGANISER)
def move_attendee(slug: str, reference: str, attendee_id: int):
    edition = get_edition(slug)
    order = services.order_file(edition, reference).order
    attendee = services.attendee_of(order, str(attendee_id))
    form = _move_form(attendee, formdata=True)

    def refused(status: int):
        return _render_order(
            edition, reference, status=status, move_form=form, open_attendee=attendee.id
        )

    if not form.validate_on_submit():
        return refused(422)
    new_type = next(
        t for t in services.movable_ticket_types(attendee) if t.id == form.ticket_type_id.data
    )
    try:
        move = services.move_attendee(
            attendee,
            new_type,
            expected_version=form.version.data,
            actor=current_user.actor,
            reason=form.reason.data or "",
        )
    except DomainError as error:
        db.session.rollback()
        if error.field:
            _put_errors(form, {error.field: error.message})
        else:
            flash(error.message, "error")
        return refused(409)
    db.session.commit()
    message = _(
        "%(name)s now has the ticket type %(type)s; the ticket stays valid.",
        name=attendee.name,
        type=new_type.display_name(current_language()),
    )
    if move.credit_note is not None:
        message += " " + _("Credit note %(number)s was issued.", number=move.credit_note.number)
    if move.invoice is not None:
        message += " " + _("Invoice %(number)s was issued.", number=move.invoice.number)
    flash(message + " " + _("The booker has been told."), "success")
    return _back_to_order(edition, order)


def _resend(edition: Edition, reference: str, send, sent: str):
    """Queue an e-mail again (``send(actor)`` returns the outbox row) and say so;
    ``sent`` is the message, with %(to)s for the recipient."""
    order = services.order_file(edition, reference).order
    if not ResendForm().validate_on_submit():
        flash(_("The page is out of date. Reload it and try again."), "error")
        return _render_order(edition, reference, status=422)
    try:
        message = send(current_user.actor)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_order(edition, reference, status=409)
    to = message.to_address
    db.session.commit()
    flash(sent % {"to": to}, "success")
    return _back_to_order(edition, order)


@bp.post("/e/<slug>/orders/<reference>/resend")
@roles_required(Role.ORGANISER)
def resend_confirmation(slug: str, reference: str):
    edition = get_edition(slug)
    order = services.order_file(edition, reference).order
    return _resend(
        edition,
        reference,
        lambda actor: registration_services.resend_confirmation(order, actor=actor),
        _("The confirmation is on its way to %(to)s, with a new link."),
    )


@bp.post("/e/<slug>/orders/<reference>/places/<int:attendee_id>/resend")
@roles_required(Role.ORGANISER)
def resend_ticket(slug: str, reference: str, attendee_id: int):
    edition = get_edition(slug)
    attendee = services.attendee_of(services.order_file(edition, reference).order, str(attendee_id))
    return _resend(
        edition,
        reference,
        lambda actor: registration_services.resend_ticket(attendee, actor=actor),
        _("The ticket is on its way to %(to)s, with a new link."),
    )


# --- registering on someone's behalf ---------------------------------------------------


def _staff_form_page(edition: Edition, form: StaffRegistrationForm, status=200, **extra):
    public_types = public_ticket_types(edition)
    form.ticket_type_id.choices = [
        SelectChoice(t.id, t.display_name(current_language())) for t in public_types
    ]
    return (
        render_template(
            "backoffice/register.html",
            edition=edition,
            form=form,
            public_types=public_types,
            count=len(form.attendees.entries),
            max_group_size=min(edition.max_group_size, MAX_GROUP_SIZE),
            errors=form.error_list(),
            window=registration_state(edition).value,
            places_left=services.edition_dashboard(edition).free,
            **extra,
        ),
        status,
    )


def _chosen_ticket_type(edition: Edition, form: StaffRegistrationForm) -> int:
    """The ticket type asked for: the one an access code unlocks, else the chosen one."""
    code = (form.access_code.data or "").strip()
    if code:
        unlocked = ticket_type_for_code(edition, code)
        return unlocked.id if unlocked is not None else 0
    if form.ticket_type_id.data:
        return form.ticket_type_id.data
    public_types = public_ticket_types(edition)
    return public_types[0].id if len(public_types) == 1 else 0


@bp.route("/e/<slug>/register", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def register_on_behalf(slug: str):
    edition = get_edition(slug, with_ticket_types=True)
    form = StaffRegistrationForm()
    if request.method == "GET":
        form.resize(request.args.get("n", 1, type=int))
        public_types = public_ticket_types(edition)
        if public_types:
            form.ticket_type_id.data = public_types[0].id
        return _staff_form_page(edition, form)
    rows = len(form.attendees.entries)
    wanted = max(1, min(form.attendee_count.data or rows, edition.max_group_size))
    if request.form.get("action") == "count" or wanted != rows:
        form.resize(wanted)
        return _staff_form_page(edition, form)
    valid = form.validate()
    details = form.to_details(_chosen_ticket_type(edition, form), form.language.data or "da")
    if not valid:
        form.add_errors(check_booking(edition, details))
        return _staff_form_page(edition, form, 422)
    try:
        placed = services.register_on_behalf(
            edition, details, actor=current_user.actor, channel=form.channel.data
        )
    except InvalidBooking as error:
        db.session.rollback()
        form.add_errors(error.errors)
        return _staff_form_page(edition, form, 422)
    except NotEnoughPlaces as error:
        db.session.rollback()
        form.form_errors.append(error.message)
        return _staff_form_page(edition, form, 409)
    reference = placed.order.reference
    db.session.commit()
    flash(
        _(
            "Order %(reference)s is registered. The booker gets the confirmation and each "
            "participant a ticket by e-mail.",
            reference=reference,
        ),
        "success",
    )
    return redirect(url_for("backoffice.order", slug=edition.slug, reference=reference), 303)


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
    for credit_note in result.credit_notes:
        message += " " + _(
            "Credit note %(number)s was issued and sent to the booker.",
            number=credit_note.number,
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


# --- the exhibition hall -------------------------------------------------------------
#
# Setup (hall, packages, add-ons, stands) is done by backoffice services; the
# decisions on bookings (approve, decline, move, cancel) by the stand services.


def _field_error(form, error: DomainError, fallback: str | None = None) -> None:
    """Show a service's refusal next to the field it names (or the fallback field)."""
    field = getattr(form, error.field or "", None) or getattr(form, fallback or "", None)
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def _hall_form(hall) -> HallForm:
    if hall is None:
        form = HallForm(
            booking_mode=BookingMode.BINDING.value,
            bookings_open=True,
            width=services.metres(StandHall.__table__.c.width_cm.default.arg),
            depth=services.metres(StandHall.__table__.c.depth_cm.default.arg),
        )
    else:
        form = HallForm(
            obj=hall,
            width=services.metres(hall.width_cm),
            depth=services.metres(hall.depth_cm),
        )
        form.set_deadline(hall.staff_deadline)
    return form


def _render_setup(edition: Edition, hall_form: HallForm | None = None, status: int = 200):
    hall = services.existing_hall(edition)
    return (
        render_template(
            "backoffice/stands/setup.html",
            edition=edition,
            hall=hall,
            form=hall_form or _hall_form(hall),
            packages=services.edition_packages(edition),
            addons=services.edition_addons(edition),
            stands=services.stands_overview(edition).stands,
            plan=stand_services.floor_plan(edition, current_language()),
            metres=services.metres,
            kind_label=services.addon_kind_label,
            stand_status_label=services.stand_status_label,
        ),
        status,
    )


@bp.get("/e/<slug>/stands/setup")
@roles_required(Role.ORGANISER)
def stands_setup(slug: str):
    return _render_setup(get_edition(slug))


@bp.post("/e/<slug>/stands/hall")
@roles_required(Role.ORGANISER)
def stands_hall(slug: str):
    edition = get_edition(slug)
    form = HallForm()
    if not form.validate_on_submit():
        return _render_setup(edition, form, 422)
    actor = current_user.actor
    upload = form.background.data
    try:
        hall = services.save_hall(
            edition,
            services.HallSettings(
                name=form.name.data or "",
                width_cm=form.width.cm,
                depth_cm=form.depth.cm,
                booking_mode=form.booking_mode.data,
                terms=form.terms.data or "",
                terms_en=form.terms_en.data,
                staff_deadline=form.deadline_utc,
                bookings_open=bool(form.bookings_open.data),
            ),
            actor=actor,
        )
        if upload is not None and getattr(upload, "filename", ""):
            services.set_hall_background(hall, upload.read(), actor=actor)
        elif form.remove_background.data:
            services.remove_hall_background(hall, actor=actor)
    except DomainError as error:
        db.session.rollback()
        _field_error(form, error)
        return _render_setup(edition, form, 422)
    db.session.commit()
    flash(_("The hall is saved."), "success")
    return redirect(url_for("backoffice.stands_setup", slug=edition.slug), code=303)


@bp.get("/e/<slug>/stands/background")
@roles_required(Role.ORGANISER)
def stands_background(slug: str):
    hall = services.existing_hall(get_edition(slug))
    if hall is None or hall.background is None:
        abort(404)
    return Response(
        hall.background,
        content_type=hall.background_type,
        headers={"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"},
    )


def _render_item(template: str, edition: Edition, form, item=None, status: int = 200, **extra):
    return (
        render_template(
            f"backoffice/stands/{template}",
            edition=edition,
            form=form,
            item=item,
            delete_form=DeleteForm(),
            **extra,
        ),
        status,
    )


def _package_details(form: PackageForm) -> services.PackageDetails:
    return services.PackageDetails(
        name=form.name.data or "",
        name_en=form.name_en.data,
        price_net_ore=form.price.ore,
        included_passes=form.included_passes.data,
        includes=form.includes.data or "",
        includes_en=form.includes_en.data,
    )


@bp.route("/e/<slug>/stands/packages/new", methods=["GET", "POST"])
@bp.route("/e/<slug>/stands/packages/<int:package_id>", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def stands_package(slug: str, package_id: int | None = None):
    edition = get_edition(slug)
    package = services.get_package(edition, package_id) if package_id else None
    if request.method == "GET":
        form = PackageForm(obj=package) if package else PackageForm(included_passes=2)
        if package is not None:
            form.price.data = kroner_input(package.price_net_ore)
        return _render_item("package.html", edition, form, package)
    form = PackageForm()
    if not form.validate_on_submit():
        return _render_item("package.html", edition, form, package, 422)
    try:
        saved = services.save_package(
            edition, _package_details(form), actor=current_user.actor, package=package
        )
    except DomainError as error:
        db.session.rollback()
        _field_error(form, error)
        return _render_item("package.html", edition, form, package, 422)
    db.session.commit()
    flash(_("Package “%(name)s” is saved.", name=saved.name), "success")
    return redirect(url_for("backoffice.stands_setup", slug=edition.slug) + "#packages", 303)


def _delete(edition: Edition, item, template: str, form_factory, remove, **extra):
    """The shared second step of deleting a package, an add-on or a stand."""
    form = DeleteForm()
    if not form.validate_on_submit():
        flash(_("Tick the box to confirm."), "error")
        return _render_item(template, edition, form_factory(item), item, 422, **extra)
    try:
        remove(item, actor=current_user.actor)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_item(template, edition, form_factory(item), item, 409, **extra)
    db.session.commit()
    flash(_("Deleted."), "success")
    return redirect(url_for("backoffice.stands_setup", slug=edition.slug), 303)


def _filled_package_form(package) -> PackageForm:
    form = PackageForm(obj=package, formdata=None)
    form.price.data = kroner_input(package.price_net_ore)
    return form


@bp.post("/e/<slug>/stands/packages/<int:package_id>/delete")
@roles_required(Role.ORGANISER)
def stands_package_delete(slug: str, package_id: int):
    edition = get_edition(slug)
    package = services.get_package(edition, package_id)
    return _delete(edition, package, "package.html", _filled_package_form, services.delete_package)


def _filled_addon_form(addon) -> AddonForm:
    form = AddonForm(obj=addon, formdata=None)
    form.price.data = kroner_input(addon.price_net_ore)
    return form


@bp.route("/e/<slug>/stands/addons/new", methods=["GET", "POST"])
@bp.route("/e/<slug>/stands/addons/<int:addon_id>", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def stands_addon(slug: str, addon_id: int | None = None):
    edition = get_edition(slug)
    addon = services.get_addon(edition, addon_id) if addon_id else None
    if request.method == "GET":
        form = (
            _filled_addon_form(addon)
            if addon
            else AddonForm(is_active=True, max_quantity=4, formdata=None)
        )
        return _render_item("addon.html", edition, form, addon)
    form = AddonForm()
    if not form.validate_on_submit():
        return _render_item("addon.html", edition, form, addon, 422)
    try:
        saved = services.save_addon(
            edition,
            services.AddonDetails(
                kind=form.kind.data,
                name=form.name.data or "",
                name_en=form.name_en.data,
                price_net_ore=form.price.ore,
                max_quantity=form.max_quantity.data,
                is_active=bool(form.is_active.data),
            ),
            actor=current_user.actor,
            addon=addon,
        )
    except DomainError as error:
        db.session.rollback()
        _field_error(form, error)
        return _render_item("addon.html", edition, form, addon, 422)
    db.session.commit()
    flash(_("Add-on “%(name)s” is saved.", name=saved.name), "success")
    return redirect(url_for("backoffice.stands_setup", slug=edition.slug) + "#addons", 303)


@bp.post("/e/<slug>/stands/addons/<int:addon_id>/delete")
@roles_required(Role.ORGANISER)
def stands_addon_delete(slug: str, addon_id: int):
    edition = get_edition(slug)
    addon = services.get_addon(edition, addon_id)
    return _delete(edition, addon, "addon.html", _filled_addon_form, services.delete_addon)


def _stand_form(edition: Edition, stand=None, *, formdata=True) -> StandForm:
    if stand is not None:
        form = StandForm(
            obj=stand,
            x=services.metres(stand.x_cm),
            y=services.metres(stand.y_cm),
            width=services.metres(stand.width_cm),
            depth=services.metres(stand.depth_cm),
            **({} if formdata else {"formdata": None}),
        )
    else:
        form = StandForm(
            x="0", y="0", width="3", depth="3", **({} if formdata else {"formdata": None})
        )
    form.package_id.choices = [
        (
            package.id,
            f"{package.display_name(current_language())} · {format_dkk(package.price_net_ore)}",
        )
        for package in services.edition_packages(edition)
    ]
    return form


def _stand_extra(edition: Edition, stand) -> dict:
    return {
        "booked": stand is not None and stand.status != StandStatus.FREE,
        "deletable": stand is not None and not services.was_ever_booked(stand),
        "has_packages": bool(services.edition_packages(edition)),
    }


@bp.route("/e/<slug>/stands/stands/new", methods=["GET", "POST"])
@bp.route("/e/<slug>/stands/stands/<int:stand_id>", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def stands_stand(slug: str, stand_id: int | None = None):
    edition = get_edition(slug)
    stand = services.get_stand(edition, stand_id) if stand_id else None
    extra = _stand_extra(edition, stand)
    if request.method == "GET":
        form = _stand_form(edition, stand, formdata=False)
        return _render_item("stand.html", edition, form, stand, **extra)
    form = _stand_form(edition)
    if not form.validate_on_submit():
        return _render_item("stand.html", edition, form, stand, 422, **extra)
    try:
        saved = services.save_stand(
            edition,
            services.StandDetails(
                code=form.code.data or "",
                x_cm=form.x.cm,
                y_cm=form.y.cm,
                width_cm=form.width.cm,
                depth_cm=form.depth.cm,
                package_id=form.package_id.data,
                note=form.note.data or "",
            ),
            actor=current_user.actor,
            stand=stand,
        )
    except DomainError as error:
        db.session.rollback()
        _field_error(form, error)
        return _render_item("stand.html", edition, form, stand, 422, **extra)
    db.session.commit()
    flash(_("Stand %(code)s is saved.", code=saved.code), "success")
    return redirect(url_for("backoffice.stands_setup", slug=edition.slug) + "#stands", 303)


@bp.post("/e/<slug>/stands/stands/<int:stand_id>/delete")
@roles_required(Role.ORGANISER)
def stands_stand_delete(slug: str, stand_id: int):
    edition = get_edition(slug)
    stand = services.get_stand(edition, stand_id)
    return _delete(
        edition,
        stand,
        "stand.html",
        lambda item: _stand_form(edition, item, formdata=False),
        services.delete_stand,
        **_stand_extra(edition, stand),
    )


# --- the organiser's stands overview and the decisions on bookings --------------------


def _stand_labels() -> dict:
    return {
        "booking_status_label": services.booking_status_label,
        "stand_status_label": services.stand_status_label,
        "addons_text": services.addons_text,
        "metres": services.metres,
    }


@bp.get("/e/<slug>/stands")
@roles_required(Role.ORGANISER)
def stands(slug: str):
    edition = get_edition(slug)
    return render_template(
        "backoffice/stands/overview.html",
        edition=edition,
        overview=services.stands_overview(edition),
        plan=stand_services.floor_plan(edition, current_language()),
        approve_form=ApproveForm(),
        **_stand_labels(),
    )


def _move_choices(overview: services.StandsOverview, booking) -> list[tuple[int, str]]:
    """Free stands the booking may move to: a confirmed booking was invoiced for its
    package, so only stands with that package (the stand service's rule)."""
    confirmed = booking.status == StandBookingStatus.CONFIRMED
    return [
        (
            stand.id,
            f"{stand.code} · {services.metres(stand.width_cm)} × "
            f"{services.metres(stand.depth_cm)} m · "
            f"{stand.package.display_name(current_language())}",
        )
        for stand in overview.free_stands
        if not confirmed or stand.package_id == booking.stand.package_id
    ]


def _render_booking(
    edition: Edition,
    booking,
    *,
    decline_form=None,
    move_form=None,
    cancel_form=None,
    status: int = 200,
):
    overview = services.stands_overview(edition)
    line = next(item for item in overview.bookings if item.booking.id == booking.id)
    move_form = move_form or MoveForm(formdata=None)
    move_form.stand_id.choices = _move_choices(overview, booking)
    return (
        render_template(
            "backoffice/stands/booking.html",
            edition=edition,
            booking=booking,
            line=line,
            approve_form=ApproveForm(),
            decline_form=decline_form or DeclineForm(formdata=None),
            move_form=move_form,
            cancel_form=cancel_form or BookingCancelForm(formdata=None),
            **_stand_labels(),
        ),
        status,
    )


@bp.get("/e/<slug>/stands/bookings/<int:booking_id>")
@roles_required(Role.ORGANISER)
def stands_booking(slug: str, booking_id: int):
    edition = get_edition(slug)
    return _render_booking(edition, services.get_stand_booking(edition, booking_id))


def _back_to_booking(edition: Edition, booking):
    return redirect(
        url_for("backoffice.stands_booking", slug=edition.slug, booking_id=booking.id), code=303
    )


@bp.post("/e/<slug>/stands/bookings/<int:booking_id>/approve")
@roles_required(Role.ORGANISER)
def stands_approve(slug: str, booking_id: int):
    edition = get_edition(slug)
    booking = services.get_stand_booking(edition, booking_id)
    if not ApproveForm().validate_on_submit():
        flash(_("The page is out of date. Reload it and try again."), "error")
        return _render_booking(edition, booking, status=422)
    try:
        result = stand_services.approve_booking(booking, actor=current_user.actor)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_booking(edition, booking, status=409)
    db.session.commit()
    message = _(
        "Approved: stand %(code)s is booked by %(company)s.",
        code=booking.stand.code,
        company=booking.company,
    )
    if getattr(result, "invoice", None) is not None:
        message += " " + _("Invoice %(number)s was issued and sent.", number=result.invoice.number)
    flash(message, "success")
    return _back_to_booking(edition, booking)


@bp.post("/e/<slug>/stands/bookings/<int:booking_id>/decline")
@roles_required(Role.ORGANISER)
def stands_decline(slug: str, booking_id: int):
    edition = get_edition(slug)
    booking = services.get_stand_booking(edition, booking_id)
    form = DeclineForm()
    if not form.validate_on_submit():
        return _render_booking(edition, booking, decline_form=form, status=422)
    try:
        stand_services.decline_booking(
            booking, actor=current_user.actor, reason=(form.reason.data or "").strip()
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_booking(edition, booking, decline_form=form, status=409)
    db.session.commit()
    flash(
        _(
            "Declined. Stand %(code)s is free again and the company has been told.",
            code=booking.stand.code,
        ),
        "success",
    )
    return _back_to_booking(edition, booking)


@bp.post("/e/<slug>/stands/bookings/<int:booking_id>/move")
@roles_required(Role.ORGANISER)
def stands_move(slug: str, booking_id: int):
    edition = get_edition(slug)
    booking = services.get_stand_booking(edition, booking_id)
    form = MoveForm()
    form.stand_id.choices = _move_choices(services.stands_overview(edition), booking)
    if not form.validate_on_submit():
        return _render_booking(edition, booking, move_form=form, status=422)
    old_code = booking.stand.code
    new_stand = services.get_stand(edition, form.stand_id.data)
    try:
        stand_services.move_booking(booking, new_stand, actor=current_user.actor)
    except DomainError as error:
        db.session.rollback()
        form.stand_id.errors = [*form.stand_id.errors, error.message]
        return _render_booking(edition, booking, move_form=form, status=409)
    db.session.commit()
    flash(
        _(
            "%(company)s moved from stand %(old)s to stand %(new)s; the company has been told.",
            company=booking.company,
            old=old_code,
            new=new_stand.code,
        ),
        "success",
    )
    return _back_to_booking(edition, booking)


@bp.post("/e/<slug>/stands/bookings/<int:booking_id>/cancel")
@roles_required(Role.ORGANISER)
def stands_cancel(slug: str, booking_id: int):
    edition = get_edition(slug)
    booking = services.get_stand_booking(edition, booking_id)
    form = BookingCancelForm()
    if not form.validate_on_submit():
        return _render_booking(edition, booking, cancel_form=form, status=422)
    try:
        result = stand_services.cancel_booking(
            booking, actor=current_user.actor, reason=(form.reason.data or "").strip()
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_booking(edition, booking, cancel_form=form, status=409)
    db.session.commit()
    message = _(
        "The booking is cancelled and stand %(code)s is free again.", code=booking.stand.code
    )
    for credit_note in getattr(result, "credit_notes", []) or []:
        message += " " + _(
            "Credit note %(number)s was issued and sent to the company.", number=credit_note.number
        )
    flash(message, "success")
    return _back_to_booking(edition, booking)


def _exhibitors_download(edition: Edition, extension: str) -> dict:
    filename = re.sub(r"[^A-Za-z0-9_-]", "", edition.slug) + f"-exhibitors.{extension}"
    # Personal data: keep it out of shared caches and the browser cache.
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


@bp.get("/e/<slug>/stands/exhibitors.csv")
@roles_required(Role.ORGANISER)
def stands_exhibitors_csv(slug: str):
    edition = get_edition(slug)
    return Response(
        services.exhibitors_csv(edition).encode("utf-8"),
        headers=_exhibitors_download(edition, "csv"),
        content_type="text/csv; charset=utf-8",
    )


@bp.get("/e/<slug>/stands/exhibitors.xlsx")
@roles_required(Role.ORGANISER)
def stands_exhibitors_xlsx(slug: str):
    edition = get_edition(slug)
    return Response(
        services.exhibitors_xlsx(edition),
        headers=_exhibitors_download(edition, "xlsx"),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


# --- a new edition from an earlier one, ticket types and access codes ---------------


def _next_year(text: str | None) -> str | None:
    """The text with each year in it one higher ("traef-2027" -> "traef-2028")."""
    if not text:
        return text
    return re.sub(r"\b(20\d\d)\b", lambda m: str(int(m.group(1)) + 1), text)


def _render_copy(source: Edition, form: EditionCopyForm, status: int = 200):
    return (
        render_template("backoffice/edition_copy.html", source=source, form=form),
        status,
    )


@bp.route("/e/<slug>/copy", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def copy_edition(slug: str):
    source = get_edition(slug)
    if request.method == "GET":
        # A year later on the same weekday (52 weeks), with the years in the names raised.
        form = EditionCopyForm(
            formdata=None,
            name=_next_year(source.name),
            name_en=_next_year(source.name_en),
            slug=_next_year(source.slug) if _next_year(source.slug) != source.slug else "",
            starts_on=copenhagen_date(source.starts_at) + timedelta(weeks=52),
        )
        return _render_copy(source, form)
    form = EditionCopyForm()
    if not form.validate_on_submit():
        return _render_copy(source, form, 422)
    try:
        edition = event_services.copy_edition(
            source,
            event_services.EditionCopy(
                name=form.name.data or "",
                name_en=form.name_en.data,
                slug=form.slug.data or "",
                starts_on=form.starts_on.data,
            ),
            actor=current_user.actor,
        )
    except DomainError as error:
        db.session.rollback()
        _field_error(form, error)
        return _render_copy(source, form, 422)
    db.session.commit()
    flash(
        _(
            "Edition “%(name)s” is created from “%(source)s”. Check its texts and dates.",
            name=edition.name,
            source=source.name,
        ),
        "success",
    )
    return redirect(url_for("backoffice.ticket_types", slug=edition.slug), 303)


@bp.get("/e/<slug>/tickets")
@roles_required(Role.ORGANISER)
def ticket_types(slug: str):
    edition = get_edition(slug, with_ticket_types=True)
    return render_template(
        "backoffice/ticket_types.html",
        edition=edition,
        ticket_types=edition.ticket_types,
        codes=event_services.edition_access_codes(edition),
        prices={t.id: event_services.ticket_price(t) for t in edition.ticket_types},
    )


def _render_ticket_type(edition: Edition, form: TicketTypeForm, item=None, status: int = 200):
    return (
        render_template("backoffice/ticket_type.html", edition=edition, form=form, item=item),
        status,
    )


@bp.route("/e/<slug>/tickets/new", methods=["GET", "POST"])
@bp.route("/e/<slug>/tickets/<int:ticket_type_id>", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def ticket_type(slug: str, ticket_type_id: int | None = None):
    edition = get_edition(slug)
    item = event_services.get_ticket_type(edition, ticket_type_id) if ticket_type_id else None
    if request.method == "GET":
        if item is None:
            form = TicketTypeForm(formdata=None, is_public=True, sort_order=10)
        else:
            form = TicketTypeForm(obj=item, formdata=None)
            form.price.data = kroner_input(item.price_net_ore)
            if item.early_bird_price_net_ore is not None:
                form.early_bird_price.data = kroner_input(item.early_bird_price_net_ore)
        return _render_ticket_type(edition, form, item)
    form = TicketTypeForm()
    if not form.validate_on_submit():
        return _render_ticket_type(edition, form, item, 422)
    try:
        saved = event_services.save_ticket_type(
            edition,
            event_services.TicketTypeDetails(
                name=form.name.data or "",
                name_en=form.name_en.data,
                price_net_ore=form.price.ore,
                is_public=bool(form.is_public.data),
                sort_order=form.sort_order.data,
                early_bird_price_net_ore=form.early_bird_price.ore,
                early_bird_until=form.early_bird_until.data,
            ),
            actor=current_user.actor,
            ticket_type=item,
        )
    except DomainError as error:
        db.session.rollback()
        _field_error(form, error)
        return _render_ticket_type(edition, form, item, 422)
    db.session.commit()
    flash(_("Ticket type “%(name)s” is saved.", name=saved.name), "success")
    return redirect(url_for("backoffice.ticket_types", slug=edition.slug), 303)


def _code_form(edition: Edition, code=None, *, formdata=True) -> AccessCodeForm:
    if code is not None and not formdata:
        pricing = (
            CODE_PRICING_NORMAL
            if code.price_net_ore is None
            else CODE_PRICING_FREE
            if code.price_net_ore == 0
            else CODE_PRICING_DISCOUNT
        )
        form = AccessCodeForm(obj=code, formdata=None, pricing=pricing)
        if pricing == CODE_PRICING_DISCOUNT:
            form.price.data = kroner_input(code.price_net_ore)
    elif not formdata:
        form = AccessCodeForm(formdata=None, pricing=CODE_PRICING_FREE, max_uses=10)
    else:
        form = AccessCodeForm()
    language = current_language()
    form.ticket_type_id.choices = [
        (t.id, f"{t.display_name(language)} · {format_dkk(t.price_net_ore, language)}")
        for t in edition.ticket_types
    ]
    return form


def _render_code(edition: Edition, form: AccessCodeForm, item=None, status: int = 200):
    return (
        render_template("backoffice/access_code.html", edition=edition, form=form, item=item),
        status,
    )


@bp.route("/e/<slug>/codes/new", methods=["GET", "POST"])
@bp.route("/e/<slug>/codes/<int:code_id>", methods=["GET", "POST"])
@roles_required(Role.ORGANISER)
def access_code(slug: str, code_id: int | None = None):
    edition = get_edition(slug, with_ticket_types=True)
    item = event_services.get_access_code(edition, code_id) if code_id else None
    if request.method == "GET":
        form = _code_form(edition, item, formdata=False)
        if item is None and request.args.get("type", type=int):
            form.ticket_type_id.data = request.args.get("type", type=int)
        return _render_code(edition, form, item)
    form = _code_form(edition)
    if not form.validate_on_submit():
        return _render_code(edition, form, item, 422)
    try:
        saved = event_services.save_access_code(
            edition,
            event_services.AccessCodeDetails(
                code=form.code.data or "",
                ticket_type_id=form.ticket_type_id.data,
                price_net_ore=form.price_ore,
                max_uses=form.max_uses.data,
                note=form.note.data or "",
            ),
            actor=current_user.actor,
            access_code=item,
        )
    except DomainError as error:
        db.session.rollback()
        _field_error(form, error)
        return _render_code(edition, form, item, 422)
    db.session.commit()
    flash(_("Access code %(code)s is saved.", code=saved.code), "success")
    return redirect(url_for("backoffice.ticket_types", slug=edition.slug) + "#codes", 303)
