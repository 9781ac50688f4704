"""Public registration pages: the form, the manage link and the waiting-list link.

Thin on purpose: parse the form, call a service, commit once, redirect (303)
or re-render the form with every error next to its field and nothing written.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from wtforms.fields.choices import SelectChoice

from conference.checkin.services import ticket_qr_svg
from conference.core.db import db, read_only, utcnow
from conference.core.errors import DomainError, NotEnoughPlaces, NotFound, RegistrationClosed
from conference.core.i18n import current_language
from conference.core.manage_links import manage_limit as _manage_limit
from conference.core.manage_links import private as _private
from conference.core.manage_links import speak_language_of as _speak_language_of
from conference.core.money import Amounts
from conference.core.security import limiter
from conference.events.models import Edition, TicketType
from conference.events.services import (
    RegistrationState,
    find_access_code,
    get_edition,
    public_ticket_types,
    registration_state,
    ticket_price,
    ticket_type_for_code,
)
from conference.payments.services import (
    PaymentUnavailable,
    begin_card_payment,
    card_payment_unavailable_message,
    card_payments_enabled,
)
from conference.registration import services
from conference.registration.forms import MAX_GROUP_SIZE, LinkRequestForm, RegistrationForm
from conference.registration.models import OrderStatus, PaymentMethod, WaitingStatus
from conference.registration.services import AlreadyWaiting, InvalidBooking
from conference.transfers.services import HandedOn, handed_on, transfer_open

bp = Blueprint("registration", __name__)


def _registration_limit() -> str:
    return current_app.config["REGISTRATION_RATE_LIMIT"]


def _link_request_limit() -> str:
    return current_app.config["LINK_REQUEST_RATE_LIMIT"]


def _address_asked_for() -> str:
    return "link-request:" + (request.form.get("email") or "").strip().lower()[:254]


# --- the registration form ---------------------------------------------------------


def _places_left(ticket_type: TicketType | None) -> int:
    return ticket_type.quota.free if ticket_type is not None else 0


# A new visitor's form page is the same for everyone who reads it in the same
# language, except for the CSRF token; in a rush it is most of what the server
# renders. It is kept a few seconds, so an organiser's edit shows almost at
# once, and keyed by what the page says about the places left, which is read
# fresh on every request: "full" and "only N left" are never stale.
_BLANK_PAGE_SECONDS = 3.0


def _blank_pages() -> dict[tuple, tuple[float, str, str]]:
    return current_app.extensions.setdefault("registration_blank_pages", {})


def _blank_page_key(edition_id: int, few_places_threshold: int, left: int) -> tuple | None:
    if request.args or session.get("_flashes"):
        return None
    shown_left = left if 0 < left <= few_places_threshold else None
    return (edition_id, current_language(), left == 0, shown_left)


def _kept_halves(key: tuple | None) -> tuple[str, str] | None:
    """The page kept under ``key``, split where the per-request part goes."""
    cached = _blank_pages().get(key) if key is not None else None
    if cached is None or cached[0] < time.monotonic():
        return None
    return cached[1], cached[2]


def _keep_halves(key: tuple | None, before: str, after: str) -> None:
    if key is not None:
        _blank_pages()[key] = (time.monotonic() + _BLANK_PAGE_SECONDS, before, after)


def _blank_page(key: tuple | None) -> str | None:
    halves = _kept_halves(key)
    return None if halves is None else halves[0] + generate_csrf() + halves[1]


def _keep_blank_page(key: tuple | None, html: str) -> None:
    token = generate_csrf()
    before, found, after = html.partition(token)
    if found and token not in after:
        _keep_halves(key, before, after)


class _FormPage:
    """What the form page needs besides the form: the edition and its prices."""

    def __init__(self, edition: Edition, form: RegistrationForm) -> None:
        self.edition = edition
        self.form = form
        self.public_types = public_ticket_types(edition)
        form.ticket_type_id.choices = [
            SelectChoice(t.id, t.display_name(current_language())) for t in self.public_types
        ]
        self.not_enough: NotEnoughPlaces | None = None
        self.notice: str | None = None
        self.already_waiting: str | None = None
        self.payment_error: str | None = None
        self.card_payments = card_payments_enabled()

    def chosen_type(self) -> TicketType | None:
        """The ticket type the form asks for: the one a valid access code unlocks, else the
        chosen public one (the first when there is only one)."""
        code = (self.form.access_code.data or "").strip()
        if code:
            return ticket_type_for_code(self.edition, code)
        wanted = self.form.ticket_type_id.data
        for ticket_type in self.public_types:
            if ticket_type.id == wanted:
                return ticket_type
        if wanted is None and len(self.public_types) == 1:
            return self.public_types[0]
        return None

    def render(self, status: int = 200):
        form = self.form
        ticket_type = self.chosen_type() or (self.public_types[0] if self.public_types else None)
        count = len(form.attendees.entries)
        total = price = None
        if ticket_type is not None:
            code = find_access_code(self.edition, self.form.access_code.data)
            if code is not None and code.ticket_type_id != ticket_type.id:
                code = None
            price = ticket_price(ticket_type, code)
            total = Amounts.of_net(price.net_ore * count, ticket_type.vat_percent)
        if self.not_enough is not None:
            left = self.not_enough.places_left
        else:
            left = _places_left(ticket_type)
        return (
            render_template(
                "registration/register.html",
                edition=self.edition,
                form=form,
                language=current_language(),
                ticket_type=ticket_type,
                price=price,
                prices={t.id: ticket_price(t) for t in self.public_types},
                public_types=self.public_types,
                count=count,
                total=total,
                places_left=left,
                is_full=left == 0,
                show_places_left=0 < left <= self.edition.few_places_threshold,
                not_enough=self.not_enough,
                notice=self.notice,
                already_waiting=self.already_waiting,
                payment_error=self.payment_error,
                card_payments=self.card_payments,
                hold_minutes=current_app.config["HOLD_MINUTES"],
                errors=form.error_list(),
                max_group_size=min(self.edition.max_group_size, MAX_GROUP_SIZE),
            ),
            status,
        )


# The fields of the registration form a "fully booked" answer carries on to the
# waiting list; anything else posted is dropped rather than echoed back.
def _carried_field_names() -> frozenset[str]:
    names = {
        "ticket_type_id",
        "access_code",
        "booker_name",
        "booker_email",
        "booker_phone",
        "organisation",
        "organisation_type",
        "attendee_count",
        "invoice_organisation",
        "invoice_address",
        "invoice_postcode",
        "invoice_city",
        "cvr",
        "ean",
        "personreference",
        "buyer_order_number",
        "accounting_cost",
    }
    for index in range(MAX_GROUP_SIZE):
        for sub in ("name", "email", "job_title", "dietary"):
            names.add(f"attendees-{index}-{sub}")
    return frozenset(names)


_CARRIED = _carried_field_names()


def _fully_booked_page(slug: str, glance: services.RegistrationGlance):
    """The answer to a registration when no place at all is left, before any parsing.

    A short page that says so and offers the waiting list with one click: what
    the booker typed goes along as hidden fields to the waiting-list endpoint,
    which validates it like the form and shows the whole form if anything is off.
    """
    carried = [
        (name, value[:1000]) for name, value in request.form.items(multi=True) if name in _CARRIED
    ]
    rows = {name.split("-", 2)[1] for name, _value in carried if name.startswith("attendees-")}
    count = max(len(rows), 1)
    hidden = [f'<input type="hidden" name="csrf_token" value="{escape(generate_csrf())}">']
    hidden += [
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in carried
    ]
    event_name = glance.display_name(current_language())
    # Like the form page: the page around the hidden fields is the same for every
    # booker of a group size in a language, and a rush sends thousands of them.
    key = None
    if not session.get("_flashes"):
        key = ("fully-booked", slug, event_name, current_language(), count)
    halves = _kept_halves(key)
    if halves is None:
        html = render_template(
            "registration/fully_booked.html",
            slug=slug,
            event_name=event_name,
            hidden_fields=Markup(_HIDDEN_FIELDS_MARK),  # noqa: S704 - a constant
            count=count,
        )
        before, _mark, after = html.partition(_HIDDEN_FIELDS_MARK)
        halves = (before, after)
        _keep_halves(key, before, after)
    return halves[0] + "\n    ".join(hidden) + halves[1], 200


_HIDDEN_FIELDS_MARK = "<!--hidden-fields-->"


def _closed_page(edition: Edition, state: RegistrationState, refused: bool):
    status = 403 if refused else 200
    return (
        render_template(
            "registration/closed.html",
            edition=edition,
            state=state.value,
            refused=refused,
            language=current_language(),
        ),
        status,
    )


def _parse_submission(page: _FormPage):
    """Validate the posted form; BookingDetails when it may go to a service, else None.

    Errors of the form and of the service's rules are shown together, so the
    booker can correct everything in one go.
    """
    form = page.form
    valid = form.validate()
    ticket_type = page.chosen_type()
    if form.access_code.data and ticket_type is None:
        form.add_errors({"access_code": _("The access code is not valid.")})
        valid = False
    ticket_type_id = ticket_type.id if ticket_type is not None else 0
    if ticket_type is None and not form.access_code.data:
        hidden = {t.id for t in page.edition.ticket_types if not t.is_public}
        if form.ticket_type_id.data in hidden:
            form.add_errors({"access_code": _("The access code is not valid.")})
        else:
            form.add_errors({"ticket_type_id": _("Choose a ticket type.")})
        valid = False
    details = form.to_details(ticket_type_id, current_language())
    if not valid:
        form.add_errors(services.check_booking(page.edition, details))
        return None
    return details


def _resize_requested(page: _FormPage) -> bool:
    """Handle the "number of participants" change that works without JavaScript."""
    form = page.form
    rows = len(form.attendees.entries)
    wanted = form.attendee_count.data or rows
    wanted = max(1, min(wanted, page.edition.max_group_size, MAX_GROUP_SIZE))
    if request.form.get("action") == "count" or wanted != rows:
        if request.form.get("action") != "count":
            # The list changed size as the booker pressed "register": show it first.
            page.notice = _("The list of participants was updated. Check it, then register.")
        form.resize(wanted)
        return True
    return False


@bp.route("/e/<slug>/register", methods=["GET", "POST"])
@limiter.limit(_registration_limit, methods=["POST"])
def register(slug: str):
    # The two answers most of a rush gets (a new visitor's form, "fully booked")
    # need only the registration window and the free places: one small read,
    # which a new visitor's form may take from a moment ago. A booking may go
    # by one too, unless it found only a few places (see booking_glance).
    max_age = current_app.config["REGISTRATION_GLANCE_SECONDS"]
    if request.method == "POST":
        glance = services.booking_glance(slug, max_age=max_age)
    else:
        glance = services.registration_glance(slug, max_age=max_age)
    if glance is None:
        abort(404)
    if glance.state() is RegistrationState.OPEN:
        if request.method == "GET":
            key = _blank_page_key(
                glance.edition_id, glance.few_places_threshold, glance.first_public_left
            )
            html = _blank_page(key)
            if html is not None:
                return html
        elif glance.left_in_all == 0:
            return _fully_booked_page(slug, glance)

    # The quotas are read when the page shows the places left; placing an order
    # reads and claims them itself.
    edition = get_edition(slug, with_ticket_types=True)
    state = registration_state(edition)
    if state is not RegistrationState.OPEN:
        return _closed_page(edition, state, refused=request.method == "POST")
    if request.method == "GET":
        # Keyed by what this page will show (read now), not by the earlier glance:
        # a page stored under a key must say what that key says about the places.
        public_types = public_ticket_types(edition)
        key = _blank_page_key(
            edition.id,
            edition.few_places_threshold,
            _places_left(public_types[0] if public_types else None),
        )
    page = _FormPage(edition, RegistrationForm())
    form = page.form
    if request.method == "GET":
        form.resize(request.args.get("n", 1, type=int))
        if page.public_types:
            form.ticket_type_id.data = page.public_types[0].id
        form.access_code.data = (request.args.get("code") or "")[:60]
        html, status = page.render()
        _keep_blank_page(key, html)
        return html, status

    if _resize_requested(page):
        return page.render()
    details = _parse_submission(page)
    if details is None:
        return page.render()
    if details.payment_method == PaymentMethod.CARD and not page.card_payments:
        # A page from before card payment was switched off: say so rather than invoice.
        form.payment_method.data = PaymentMethod.INVOICE.value
        page.payment_error = card_payment_unavailable_message()
        return page.render()
    try:
        placed = services.place_order(edition, details, free_seen=glance.left_in_all)
    except InvalidBooking as error:
        db.session.rollback()
        form.add_errors(error.errors)
        return page.render()
    except NotEnoughPlaces as error:
        # Nothing was written; render before the rollback expires what the page shows.
        page.not_enough = error
        response = page.render()
        db.session.rollback()
        return response
    except RegistrationClosed:
        db.session.rollback()
        return _closed_page(edition, registration_state(edition), refused=True)
    # Read before the commit, which expires the order (reading after it costs a query).
    to_card_payment = placed.order.status == OrderStatus.PENDING_PAYMENT
    db.session.commit()
    if to_card_payment:
        return _go_to_card_payment(page, placed.order)
    return redirect(url_for("registration.manage", token=placed.booker_token, new=1), code=303)


def _go_to_card_payment(page: _FormPage, order):
    """Send the booker to Stripe Checkout; the places are held (and committed) already."""
    try:
        checkout = begin_card_payment(order)
    except PaymentUnavailable as error:
        # The hold was released: commit that, and show the form with what was typed.
        db.session.commit()
        page.payment_error = error.message
        return page.render()
    db.session.commit()
    return redirect(checkout.url, code=303)


@bp.post("/e/<slug>/waiting-list")
@limiter.limit(_registration_limit)
def join_waiting_list(slug: str):
    edition = get_edition(slug)
    state = registration_state(edition)
    if state is not RegistrationState.OPEN:
        return _closed_page(edition, state, refused=True)
    page = _FormPage(edition, RegistrationForm())
    if _resize_requested(page):
        return page.render()
    details = _parse_submission(page)
    if details is None:
        return page.render()
    # Nothing is paid to wait; an accepted offer is invoiced.
    details.payment_method = PaymentMethod.INVOICE.value
    try:
        joined = services.join_waiting_list(edition, details)
    except InvalidBooking as error:
        db.session.rollback()
        page.form.add_errors(error.errors)
        return page.render()
    except RegistrationClosed:
        db.session.rollback()
        return _closed_page(edition, registration_state(edition), refused=True)
    except AlreadyWaiting as error:
        db.session.rollback()
        page.already_waiting = error.message
        return page.render()
    except DomainError as error:
        # Places enough for the group after all: say so and let them register.
        db.session.rollback()
        page.notice = error.message
        return page.render()
    db.session.commit()
    return redirect(url_for("registration.waiting_entry", token=joined.token), code=303)


# --- manage links ---------------------------------------------------------------------


@bp.get("/m/<token>")
@limiter.limit(_manage_limit)
@read_only
def manage(token: str):
    try:
        view = services.find_by_manage_token(token)
    except NotFound:
        # An old holder's link after a transfer says so instead of "not valid".
        retired = handed_on(token)
        if retired is None:
            raise
        return _handed_on_page(retired)
    order = view.order
    _speak_language_of(order.language)
    attendees = view.visible_attendees
    response = Response(
        render_template(
            "registration/manage.html",
            view=view,
            order=order,
            edition=order.edition,
            attendees=attendees,
            token=token,
            is_new=view.is_booker and request.args.get("new") == "1",
            language=current_language(),
            transfer_open=transfer_open(order.edition),
        )
    )
    return _private(response)


def _handed_on_page(retired: HandedOn) -> Response:
    order = retired.transfer.order
    _speak_language_of(order.language)
    return _private(
        Response(
            render_template(
                "transfers/handed_on.html",
                transfer=retired.transfer,
                passed_on_again=retired.passed_on_again,
                order=order,
                edition=order.edition,
                language=current_language(),
            )
        )
    )


@bp.get("/m/<token>/qr/<int:attendee_id>.svg")
@limiter.limit(_manage_limit)
@read_only
def ticket_qr(token: str, attendee_id: int):
    view = services.find_by_manage_token(token)
    attendee = next((a for a in view.visible_attendees if a.id == attendee_id), None)
    if attendee is None:
        abort(404)
    response = Response(ticket_qr_svg(attendee), mimetype="image/svg+xml")
    return _private(response)


# --- waiting-list links -----------------------------------------------------------------


def _waiting_page(token: str, entry, is_offer: bool, message: str | None = None):
    now = utcnow()
    offer_open = (
        is_offer
        and entry.status == WaitingStatus.OFFERED
        and entry.offer_expires_at is not None
        and entry.offer_expires_at > now
    )
    ticket_type = entry.ticket_type
    total = Amounts.of_net(ticket_type.price_net_ore * entry.quantity, ticket_type.vat_percent)
    response = Response(
        render_template(
            "registration/waiting.html",
            entry=entry,
            edition=entry.edition,
            token=token,
            is_offer=is_offer,
            offer_open=offer_open,
            offer_lapsed=entry.status == WaitingStatus.OFFERED and not offer_open and is_offer,
            position=services.waiting_position(entry),
            names=[a.get("name", "") for a in (entry.payload or {}).get("attendees", [])],
            ticket_type=ticket_type,
            total=total,
            message=message,
            language=current_language(),
        )
    )
    return _private(response)


@bp.get("/w/<token>")
@limiter.limit(_manage_limit)
def waiting_entry(token: str):
    entry, is_offer = services.find_waiting_entry(token)
    _speak_language_of(entry.language)
    return _waiting_page(token, entry, is_offer)


@bp.post("/w/<token>/accept")
@limiter.limit(_registration_limit)
def accept_offer(token: str):
    entry, is_offer = services.find_waiting_entry(token)
    if not is_offer:
        abort(404)
    try:
        placed = services.accept_offer(token)
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as error:
        # An offer found expired is released here and its places offered on: keep that.
        db.session.commit()
        return _waiting_page(token, entry, is_offer, message=error.message)
    db.session.commit()
    return redirect(url_for("registration.manage", token=placed.booker_token, new=1), code=303)


@bp.post("/w/<token>/leave")
@limiter.limit(_registration_limit)
def leave_waiting_list(token: str):
    entry, is_offer = services.find_waiting_entry(token)
    slug = entry.edition.slug
    try:
        services.leave_waiting_list(token)
    except DomainError as error:
        db.session.rollback()
        return _waiting_page(token, entry, is_offer, message=error.message)
    db.session.commit()
    flash(_("You have left the waiting list. Nothing more will be sent to you."), "success")
    return redirect(url_for("events.edition", slug=slug), code=303)


# --- "send me my link again" ------------------------------------------------------------


@bp.route("/e/<slug>/my-link", methods=["GET", "POST"])
@limiter.limit(_registration_limit, methods=["POST"])
@limiter.limit(_link_request_limit, key_func=_address_asked_for, methods=["POST"])
def request_link(slug: str):
    edition = get_edition(slug)
    form = LinkRequestForm()
    if form.validate_on_submit():
        services.send_links_again(edition, form.email.data)
        db.session.commit()
        # The same answer whether or not the address is registered: the page must not
        # tell a stranger who is coming.
        flash(
            _(
                "If %(email)s is registered for %(event)s, we have sent the links there now. "
                "Links in earlier e-mails no longer work.",
                email=form.email.data,
                event=edition.display_name(current_language()),
            ),
            "success",
        )
        return redirect(url_for("registration.request_link", slug=slug), code=303)
    return render_template(
        "registration/request_link.html",
        edition=edition,
        form=form,
        language=current_language(),
    ), (422 if form.errors else 200)
