"""Public exhibition pages (the floor plan, booking a stand, the exhibitor list) and the
exhibitor's manage link.

Thin on purpose: parse the form, call a service, commit once, redirect (303)
or re-render the form with every error next to its field and nothing written.
"""

from __future__ import annotations

from io import BytesIO

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _

from conference.core.db import db
from conference.core.errors import DomainError, NotFound
from conference.core.i18n import current_language
from conference.core.manage_links import manage_limit as _manage_limit
from conference.core.manage_links import private as _private
from conference.core.manage_links import speak_language_of as _speak_language_of
from conference.core.security import limiter
from conference.events.services import get_edition
from conference.stands import services
from conference.stands.forms import ExtraPassForm, ProfileForm, StaffForm, StandBookingForm
from conference.stands.models import StandBookingStatus, StandStatus
from conference.stands.services import InvalidStandBooking, StandTaken

bp = Blueprint("stands", __name__)


def _registration_limit() -> str:
    return current_app.config["REGISTRATION_RATE_LIMIT"]


@bp.app_context_processor
def _exhibition_link():
    """``exhibition_of(edition)`` for the event page: the hall, or None without one."""
    return {"exhibition_of": services.get_hall}


def _hall_or_404(edition):
    hall = services.get_hall(edition)
    if hall is None:
        raise NotFound(_("This event has no exhibition."))
    return hall


# --- the exhibition: plan and list --------------------------------------------------------


@bp.get("/e/<slug>/exhibition")
def exhibition(slug: str):
    edition = get_edition(slug)
    hall = _hall_or_404(edition)
    language = current_language()
    plan = services.floor_plan(edition, language)
    links = {}
    if hall.bookings_open:
        links = {
            s.id: url_for("stands.book", slug=slug, code=s.code) for s in plan.stands if s.is_free
        }
    return render_template(
        "stands/exhibition.html",
        edition=edition,
        hall=hall,
        plan=plan,
        links=links,
        background_url=url_for("stands.background", slug=slug) if plan.has_background else None,
        language=language,
    )


@bp.get("/e/<slug>/exhibition/background")
def background(slug: str):
    hall = _hall_or_404(get_edition(slug))
    if hall.background is None:
        abort(404)
    return _image(hall.background, hall.background_type or "application/octet-stream")


def _image(data: bytes, content_type: str) -> Response:
    # Only types checked with Pillow are ever stored; nosniff keeps a browser from
    # second-guessing them.
    response = Response(data, mimetype=content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- booking a stand ----------------------------------------------------------------------


def _addon_quantities(addons) -> tuple[dict[int, int], dict[str, str]]:
    """The add-on quantities posted as ``addon-<id>``, and errors for what is not a number."""
    quantities: dict[int, int] = {}
    errors: dict[str, str] = {}
    for addon in addons:
        raw = (request.form.get(f"addon-{addon.id}") or "").strip()
        if not raw:
            continue
        # isdigit() alone takes "²", which int() refuses.
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
            errors[f"addon-{addon.id}"] = _(
                "Choose a number from 0 to %(max)d.", max=addon.max_quantity
            )
            continue
        quantities[addon.id] = int(raw)
    return quantities, errors


def _booking_page(edition, hall, stand, form, *, addon_errors=None, status=200):
    language = current_language()
    addons = services.active_addons(edition)
    posted = {a.id: (request.form.get(f"addon-{a.id}") or "") for a in addons}
    errors = form.error_list()
    addon_errors = addon_errors or {}
    for addon in addons:
        message = addon_errors.get(f"addon-{addon.id}")
        if message:
            errors.append((f"addon-{addon.id}", addon.display_name(language), message))
    return (
        render_template(
            "stands/book.html",
            edition=edition,
            hall=hall,
            stand=stand,
            package=stand.package,
            area=services.format_area(stand.area_m2, language),
            dimensions=services.format_dimensions(stand.width_cm, stand.depth_cm, language),
            addons=addons,
            posted=posted,
            addon_errors=addon_errors,
            form=form,
            errors=errors,
            terms=hall.display_terms(language),
            language=language,
        ),
        status,
    )


def _taken_page(edition, hall, stand, message: str, status: int):
    language = current_language()
    plan = services.floor_plan(edition, language)
    free = [s for s in plan.stands if s.is_free]
    links = {}
    if hall.bookings_open:
        links = {s.id: url_for("stands.book", slug=edition.slug, code=s.code) for s in free}
    return (
        render_template(
            "stands/taken.html",
            edition=edition,
            hall=hall,
            stand=stand,
            message=message,
            posted=request.method == "POST",
            plan=plan,
            free=free,
            links=links,
            background_url=url_for("stands.background", slug=edition.slug)
            if plan.has_background
            else None,
            language=language,
        ),
        status,
    )


def _closed_page(edition, hall, status: int):
    return (
        render_template(
            "stands/closed.html", edition=edition, hall=hall, language=current_language()
        ),
        status,
    )


@bp.route("/e/<slug>/exhibition/stands/<code>", methods=["GET", "POST"])
@limiter.limit(_registration_limit, methods=["POST"])
def book(slug: str, code: str):
    edition = get_edition(slug)
    hall = _hall_or_404(edition)
    stand = services.get_stand(edition, code)
    posting = request.method == "POST"
    if not hall.bookings_open:
        return _closed_page(edition, hall, 403 if posting else 200)
    form = StandBookingForm()
    if stand.status != StandStatus.FREE:
        return _taken_page(
            edition,
            hall,
            stand,
            _(
                "Stand %(code)s is not free. Choose one of the stands that are still free.",
                code=stand.code,
            ),
            409 if posting else 200,
        )
    if not posting:
        return _booking_page(edition, hall, stand, form)

    valid = form.validate()
    quantities, addon_errors = _addon_quantities(services.active_addons(edition))
    details = form.to_details(quantities, current_language())
    if not valid or addon_errors:
        # Errors of the form and of the service's rules together, so the company
        # can correct everything in one go.
        service_errors = services.check_stand_booking(edition, details)
        form.add_errors(service_errors)
        addon_errors = {
            **{k: v for k, v in service_errors.items() if k.startswith("addon-")},
            **addon_errors,
        }
        return _booking_page(edition, hall, stand, form, addon_errors=addon_errors, status=422)
    try:
        booked = services.book_stand(edition, stand, details)
    except InvalidStandBooking as error:
        db.session.rollback()
        form.add_errors(error.errors)
        addon_errors = {k: v for k, v in error.errors.items() if k.startswith("addon-")}
        return _booking_page(edition, hall, stand, form, addon_errors=addon_errors, status=422)
    except StandTaken as error:
        # Nothing was written; render before the rollback expires what the page shows.
        response = _taken_page(edition, hall, stand, error.message, 409)
        db.session.rollback()
        return response
    except services.BookingsClosed:
        db.session.rollback()
        return _closed_page(edition, hall, 403)
    db.session.commit()
    return redirect(url_for("stands.manage", token=booked.token, new=1), code=303)


# --- the public exhibitor list --------------------------------------------------------------


@bp.get("/e/<slug>/exhibitors")
def exhibitors(slug: str):
    edition = get_edition(slug)
    hall = _hall_or_404(edition)
    return render_template(
        "stands/exhibitors.html",
        edition=edition,
        hall=hall,
        exhibitors=services.public_exhibitors(edition),
        language=current_language(),
    )


@bp.get("/e/<slug>/exhibitors/<int:booking_id>/logo")
def exhibitor_logo(slug: str, booking_id: int):
    logo = services.public_logo(get_edition(slug), booking_id)
    return _image(logo.data, logo.content_type)


# --- the exhibitor's manage link -------------------------------------------------------------


class _ManagePage:
    """The manage page with its forms; a failed post re-renders it with that form's errors."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.booking = services.find_booking_by_token(token)
        _speak_language_of(self.booking.language)
        self.staff_form = StaffForm(prefix="staff")
        self.change_forms: dict[int, StaffForm] = {}
        self.extra_form = ExtraPassForm(prefix="extra")
        self.profile_form = ProfileForm(
            prefix="profile",
            formdata=None,
            data={"description": self.booking.description, "website": self.booking.website},
        )
        self.open_pass_id: int | None = None
        self.message: str | None = None

    def change_form(self, exhibitor_pass) -> StaffForm:
        form = self.change_forms.get(exhibitor_pass.id)
        if form is None:
            form = StaffForm(prefix=f"pass-{exhibitor_pass.id}", formdata=None)
            form.name.data = exhibitor_pass.name
            form.email.data = exhibitor_pass.email
            form.job_title.data = exhibitor_pass.job_title
            form.version.data = str(exhibitor_pass.ticket_version)
            self.change_forms[exhibitor_pass.id] = form
        return form

    def render(self, status: int = 200) -> Response:
        booking = self.booking
        documents = []
        if booking.status in (StandBookingStatus.CONFIRMED, StandBookingStatus.CANCELLED):
            documents = services.booking_documents(booking)
        extra_addon = services.extra_pass_addon(booking.edition)
        language = current_language()
        response = Response(
            render_template(
                "stands/manage.html",
                booking=booking,
                edition=booking.edition,
                hall=services.get_hall(booking.edition),
                stand=booking.stand,
                area=services.format_area(booking.stand.area_m2, language),
                lines=services.booking_lines(booking),
                total=services.booking_total(booking),
                token=self.token,
                is_new=request.args.get("new") == "1",
                page=self,
                passes=booking.active_passes,
                staff_open=services.staff_open(booking),
                documents=documents,
                extra_addon=extra_addon,
                extra_left=services.extra_passes_left(booking),
                language=language,
            ),
            status,
        )
        return _private(response)

    def refused(self, form, error: DomainError) -> Response:
        """The page again after a service refused a post: the form's field errors (422)
        or the refusal's message (409). Nothing of the post is kept."""
        db.session.rollback()
        if isinstance(error, InvalidStandBooking):
            form.add_errors(error.errors)
            return self.render(422)
        self.message = error.message
        return self.render(409)


def _done(token: str, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("stands.manage", token=token), code=303)


@bp.get("/s/<token>")
@limiter.limit(_manage_limit)
def manage(token: str):
    return _ManagePage(token).render()


@bp.post("/s/<token>/staff")
@limiter.limit(_manage_limit)
def add_staff(token: str):
    page = _ManagePage(token)
    form = page.staff_form
    if not form.validate():
        return page.render(422)
    try:
        exhibitor_pass = services.name_staff(page.booking, form.to_details())
    except DomainError as error:
        return page.refused(form, error)
    return _done(
        token,
        _(
            "%(name)s is named and gets the pass by e-mail at %(email)s.",
            name=exhibitor_pass.name,
            email=exhibitor_pass.email,
        ),
    )


@bp.post("/s/<token>/staff/<int:pass_id>")
@limiter.limit(_manage_limit)
def change_staff(token: str, pass_id: int):
    page = _ManagePage(token)
    exhibitor_pass = next((p for p in page.booking.active_passes if p.id == pass_id), None)
    if exhibitor_pass is None:
        abort(404)
    form = StaffForm(prefix=f"pass-{pass_id}")
    page.change_forms[pass_id] = form
    page.open_pass_id = pass_id
    if not form.validate():
        return page.render(422)
    version = form.version.data
    try:
        changed = services.change_staff(
            page.booking,
            pass_id,
            form.to_details(),
            expected_version=int(version)
            if version and version.isascii() and version.isdigit()
            else None,
        )
    except DomainError as error:
        return page.refused(form, error)
    return _done(
        token,
        _(
            "The pass is now in the name of %(name)s; the new ticket is sent to %(email)s and "
            "the old one no longer works.",
            name=changed.name,
            email=changed.email,
        ),
    )


@bp.post("/s/<token>/extra-passes")
@limiter.limit(_manage_limit)
def buy_extra_passes(token: str):
    page = _ManagePage(token)
    form = page.extra_form
    if not form.validate():
        return page.render(422)
    try:
        invoice = services.buy_extra_passes(page.booking, form.quantity.data)
    except DomainError as error:
        return page.refused(form, error)
    return _done(
        token,
        _(
            "Thank you. You can now name %(num)d more people; the invoice %(number)s is sent "
            "to %(email)s.",
            num=form.quantity.data,
            number=invoice.number,
            email=page.booking.invoice_email,
        ),
    )


@bp.post("/s/<token>/profile")
@limiter.limit(_manage_limit)
def update_profile(token: str):
    page = _ManagePage(token)
    page.profile_form = form = ProfileForm(prefix="profile")
    if not form.validate():
        return page.render(422)
    upload = form.logo.data
    # One byte more than allowed is enough to know it is too large.
    logo = upload.read(services.MAX_LOGO_BYTES + 1) if upload and upload.filename else None
    try:
        services.update_profile(page.booking, form.to_details(logo))
    except DomainError as error:
        return page.refused(form, error)
    return _done(token, _("The company profile is saved."))


@bp.get("/s/<token>/logo")
@limiter.limit(_manage_limit)
def own_logo(token: str):
    booking = services.find_booking_by_token(token)
    if not booking.logo:
        abort(404)
    return _private(_image(booking.logo, booking.logo_type or "application/octet-stream"))


@bp.get("/s/<token>/documents/<int:document_id>.pdf")
@limiter.limit(_manage_limit)
def document_pdf(token: str, document_id: int):
    from conference.invoicing.pdf import stored_pdf
    from conference.invoicing.services import invoice_filename

    booking = services.find_booking_by_token(token)
    document = next((d for d in services.booking_documents(booking) if d.id == document_id), None)
    if document is None:
        abort(404)
    pdf = stored_pdf(document)
    # A PDF rendered just now is stored for every later download.
    db.session.commit()
    response = send_file(
        BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=invoice_filename(document),
    )
    return _private(response)


@bp.get("/s/<token>/passes/<int:pass_id>.pdf")
@limiter.limit(_manage_limit)
def pass_pdf(token: str, pass_id: int):
    from conference.checkin.services import pass_ticket_pdf

    booking = services.find_booking_by_token(token)
    exhibitor_pass = next((p for p in booking.active_passes if p.id == pass_id), None)
    if exhibitor_pass is None:
        abort(404)
    response = Response(
        pass_ticket_pdf(exhibitor_pass, booking.language), mimetype="application/pdf"
    )
    response.headers["Content-Disposition"] = (
        f'inline; filename="pass-{booking.reference}-{pass_id}.pdf"'
    )
    return _private(response)
