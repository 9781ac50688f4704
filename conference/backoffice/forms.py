"""Forms of the organiser's screens."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_decimal
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone, to_utc
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SearchField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import EmailField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from conference.core.money import parse_kroner
from conference.registration.forms import RegistrationForm
from conference.stands.models import AddonKind, BookingMode

#: Far above any venue; stops a typo with extra zeros.
MAX_CAPACITY = 100_000


class CapacityForm(FlaskForm):
    capacity = IntegerField(
        _l("Capacity (places)"),
        validators=[
            InputRequired(_l("Enter the number of places.")),
            NumberRange(
                min=0,
                max=MAX_CAPACITY,
                message=_l("Enter a number from %(min)d to %(max)d."),
            ),
        ],
        render_kw={"inputmode": "numeric", "min": 0, "max": MAX_CAPACITY},
    )


class RegistrantSearchForm(FlaskForm):
    """The search box of the registrant list; a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search"), validators=[Optional(), Length(max=200)])


class CancelForm(FlaskForm):
    """Cancel a whole order, or one place when ``attendee_id`` is set.

    ``version`` is the place's ticket_version when the page was opened: if the
    place has changed hands since, the new holder's place is not cancelled.
    """

    attendee_id = HiddenField()
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])
    reason = TextAreaField(
        _l("Reason (sent to the booker)"),
        validators=[Optional(), Length(max=500, message=_l("At most %(max)d characters."))],
    )
    confirm = BooleanField(
        _l("Yes, cancel. This cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm the cancellation."))],
    )


# --- registrants: editing, moving, resending, registering on someone's behalf ----------

PERSON_TOO_LONG = _l("This is too long (at most %(max)d characters).")
BAD_EMAIL = _l("Enter a valid e-mail address.")


def _trimmed(value):
    return value.strip() if isinstance(value, str) else value


class _PlaceForm(FlaskForm):
    """A form about one place (named in the URL): its version as the page showed it, so
    a place that changed hands since is not changed for its new holder."""

    version = IntegerField(
        widget=HiddenInput(),
        validators=[InputRequired(_l("The page is out of date. Reload it and try again."))],
    )


class AttendeeEditForm(_PlaceForm):
    name = StringField(
        _l("Full name"),
        [InputRequired(_l("This field is required.")), Length(max=200, message=PERSON_TOO_LONG)],
        filters=[_trimmed],
    )
    email = EmailField(
        _l("E-mail"),
        [
            InputRequired(_l("This field is required.")),
            Email(message=BAD_EMAIL, granular_message=False, check_deliverability=False),
            Length(max=254, message=PERSON_TOO_LONG),
        ],
        filters=[_trimmed],
    )
    job_title = StringField(
        _l("Job title"), [Optional(), Length(max=200, message=PERSON_TOO_LONG)], filters=[_trimmed]
    )
    dietary = StringField(
        _l("Dietary needs"),
        [Optional(), Length(max=300, message=PERSON_TOO_LONG)],
        filters=[_trimmed],
    )


class BookerEditForm(FlaskForm):
    name = StringField(
        _l("Booker's name"),
        [InputRequired(_l("This field is required.")), Length(max=200, message=PERSON_TOO_LONG)],
        filters=[_trimmed],
    )
    email = EmailField(
        _l("Booker's e-mail"),
        [
            InputRequired(_l("This field is required.")),
            Email(message=BAD_EMAIL, granular_message=False, check_deliverability=False),
            Length(max=254, message=PERSON_TOO_LONG),
        ],
        filters=[_trimmed],
    )
    phone = TelField(
        _l("Booker's phone number"),
        [InputRequired(_l("This field is required.")), Length(max=40, message=PERSON_TOO_LONG)],
        filters=[_trimmed],
    )


class PlaceMoveForm(_PlaceForm):
    ticket_type_id = SelectField(
        _l("New ticket type"),
        coerce=int,
        validators=[InputRequired(_l("Choose a ticket type."))],
    )
    reason = StringField(
        _l("Reason (printed on a credit note)"),
        [Optional(), Length(max=300, message=PERSON_TOO_LONG)],
        filters=[_trimmed],
    )
    confirm = BooleanField(
        _l("Yes, move the place. At another price a credit note and an invoice are issued."),
        validators=[DataRequired(_l("Tick the box to confirm the move."))],
    )


class ResendForm(FlaskForm):
    """Send the confirmation or one place's ticket again (a button, and its CSRF token)."""


def request_channel_choices() -> list[SelectChoice]:
    return [
        SelectChoice("phone", _l("By phone")),
        SelectChoice("email", _l("By e-mail")),
        SelectChoice("other", _l("Other")),
    ]


def language_choices() -> list[SelectChoice]:
    return [SelectChoice("da", _l("Danish")), SelectChoice("en", _l("English"))]


class StaffRegistrationForm(RegistrationForm):
    """The registration form as an organiser fills it in for someone who asked."""

    channel = RadioField(
        _l("The request came"),
        choices=request_channel_choices(),
        default="phone",
        validators=[InputRequired(_l("Choose how the request came."))],
    )
    language = SelectField(
        _l("Language of the e-mails"),
        choices=language_choices(),
        default="da",
        validators=[InputRequired()],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The organiser types someone else's details: not "your name".
        self.booker_name.label.text = _l("Booker's name")
        self.booker_email.label.text = _l("Booker's e-mail")
        self.booker_phone.label.text = _l("Booker's phone number")


class ExportForm(FlaskForm):
    """Which export, for which organisation; a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    list = SelectField(_l("List"), validators=[Optional()])
    organisation = SelectField(_l("Organisation"), validators=[Optional()])


# --- the exhibition hall ------------------------------------------------------------

REQUIRED = _l("This field is required.")
TOO_LONG = _l("At most %(max)d characters.")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def parse_metres(text: str) -> int:
    """A length typed in metres ("3", "2,5", "2.5") in whole centimetres.

    Raises ValueError for anything else, including more than two decimals.
    """
    cleaned = (text or "").strip().lower().removesuffix("m").strip().replace(",", ".")
    try:
        value = Decimal(cleaned)
        # quantize() itself raises for "1e30" (more digits than the context holds).
        if not value.is_finite() or value != value.quantize(Decimal("0.01")) or value < 0:
            raise ValueError(f"not a length: {text!r}")
    except InvalidOperation:
        raise ValueError(f"not a length: {text!r}") from None
    return int(value * 100)


class MetresField(StringField):
    """A length in metres with a decimal comma; ``cm`` is the value in centimetres."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, filters=[_strip], **kwargs)

    @property
    def cm(self) -> int:
        return parse_metres(self.data or "")

    def pre_validate(self, form) -> None:
        if not self.data:
            raise ValidationError(REQUIRED)
        try:
            self.cm  # noqa: B018 - parsing is the check
        except ValueError:
            raise ValidationError(_l("Enter metres, like 3 or 2,5.")) from None


def kroner_input(ore: int) -> str:
    """Øre as an organiser types kroner: "25.000,00" (what parse_kroner reads back,
    whatever the page's language)."""
    return format_decimal(Decimal(ore).scaleb(-2), "#,##0.00", locale="da_DK")


class KronerField(StringField):
    """A price in kroner, typed the Danish way ("25.000,00"); ``ore`` is the value."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, filters=[_strip], **kwargs)

    @property
    def ore(self) -> int:
        return parse_kroner(self.data or "")

    def pre_validate(self, form) -> None:
        if not self.data:
            raise ValidationError(_l("Enter the price without VAT."))
        try:
            self.ore  # noqa: B018 - parsing is the check
        except ValueError:
            raise ValidationError(_l("Enter an amount in kroner, like 25.000,00.")) from None


class HallForm(FlaskForm):
    """The hall of an edition; the staff deadline is typed in Copenhagen time."""

    name = StringField(
        _l("Name of the hall"), [Optional(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    width = MetresField(_l("Width (m)"))
    depth = MetresField(_l("Depth (m)"))
    background = FileField(_l("Background picture (PNG or JPEG, at most 2 MB)"))
    remove_background = BooleanField(_l("Remove the background picture"))
    booking_mode = RadioField(
        _l("How a booking is confirmed"),
        choices=[
            SelectChoice(
                BookingMode.BINDING.value, _l("At once: the booking is binding and invoiced")
            ),
            SelectChoice(
                BookingMode.APPROVAL.value,
                _l("As a request that an organiser approves or declines"),
            ),
        ],
        validators=[InputRequired(_l("Choose how bookings are confirmed."))],
    )
    terms = TextAreaField(
        _l("Exhibitor terms (Danish)"),
        [InputRequired(_l("Enter the exhibitor terms in Danish.")), Length(max=20_000)],
        render_kw={"rows": 6},
    )
    terms_en = TextAreaField(
        _l("Exhibitor terms (English)"), [Optional(), Length(max=20_000)], render_kw={"rows": 6}
    )
    staff_deadline = DateTimeLocalField(
        _l("Deadline for naming stand staff (Copenhagen time)"),
        format="%Y-%m-%dT%H:%M",
        validators=[Optional()],
    )
    bookings_open = BooleanField(_l("Bookings are open"))

    def set_deadline(self, utc_value) -> None:
        """Show a stored (naive UTC) deadline in Copenhagen time."""
        self.staff_deadline.data = (
            to_user_timezone(utc_value).replace(tzinfo=None) if utc_value else None
        )

    @property
    def deadline_utc(self):
        value = self.staff_deadline.data
        return to_utc(value) if value else None


class _PricedItemForm(FlaskForm):
    """What a ticket type, a stand package and a stand add-on all have: a name in
    Danish and English and a price without VAT."""

    name = StringField(
        _l("Name (Danish)"),
        [InputRequired(REQUIRED), Length(max=200, message=TOO_LONG)],
        filters=[_strip],
    )
    name_en = StringField(
        _l("Name (English)"), [Optional(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    price = KronerField(_l("Price without VAT (kr.)"))


class PackageForm(_PricedItemForm):
    included_passes = IntegerField(
        _l("Exhibitor passes included"),
        [
            InputRequired(_l("Enter the number of passes.")),
            NumberRange(min=0, max=50, message=_l("Enter a number from %(min)d to %(max)d.")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    includes = TextAreaField(
        _l("What is included (Danish, one item a line)"),
        [Optional(), Length(max=2000)],
        render_kw={"rows": 4},
    )
    includes_en = TextAreaField(
        _l("What is included (English, one item a line)"),
        [Optional(), Length(max=2000)],
        render_kw={"rows": 4},
    )


class AddonForm(_PricedItemForm):
    kind = SelectField(
        _l("Kind"),
        choices=[
            SelectChoice(AddonKind.EXTRA_PASS.value, _l("Extra exhibitor pass")),
            SelectChoice(AddonKind.POWER.value, _l("Power")),
            SelectChoice(AddonKind.FURNITURE.value, _l("Furniture")),
            SelectChoice(AddonKind.OTHER.value, _l("Other")),
        ],
        validators=[InputRequired(_l("Choose a kind."))],
    )
    max_quantity = IntegerField(
        _l("At most per booking"),
        [
            InputRequired(_l("Enter the most one booking may order.")),
            NumberRange(min=1, max=100, message=_l("Enter a number from %(min)d to %(max)d.")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    is_active = BooleanField(_l("Offered to exhibitors"))


class StandForm(FlaskForm):
    """A stand; positions are from the hall's top left corner, in metres."""

    code = StringField(
        _l("Code"), [InputRequired(REQUIRED), Length(max=20, message=TOO_LONG)], filters=[_strip]
    )
    x = MetresField(_l("From the left wall (m)"))
    y = MetresField(_l("From the top wall (m)"))
    width = MetresField(_l("Width (m)"))
    depth = MetresField(_l("Depth (m)"))
    package_id = SelectField(
        _l("Package"), coerce=int, validators=[InputRequired(_l("Choose a package."))]
    )
    note = StringField(
        _l("Note (only for organisers)"),
        [Optional(), Length(max=300, message=TOO_LONG)],
        filters=[_strip],
    )


class DeleteForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, delete it."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class ApproveForm(FlaskForm):
    """Approving a request needs only the CSRF token: it can be undone by cancelling."""


class DeclineForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (sent to the company)"),
        validators=[Optional(), Length(max=500, message=_l("At most %(max)d characters."))],
    )
    confirm = BooleanField(
        _l("Yes, decline the request. The stand becomes free."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class MoveForm(FlaskForm):
    stand_id = SelectField(
        _l("Move to stand"), coerce=int, validators=[InputRequired(_l("Choose a free stand."))]
    )
    confirm = BooleanField(
        _l(
            "Yes, move the exhibitor. The company is told by e-mail, "
            "and the stand staff get their passes again."
        ),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class BookingCancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (sent to the company)"),
        validators=[Optional(), Length(max=500, message=_l("At most %(max)d characters."))],
    )
    confirm = BooleanField(
        _l("Yes, cancel the booking. A credit note is issued and cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm the cancellation."))],
    )


# --- editions and ticket types ------------------------------------------------------


class OptionalKronerField(KronerField):
    """A price in kroner that may be left empty; ``ore`` is then None."""

    @property
    def ore(self) -> int | None:
        return parse_kroner(self.data) if self.data else None

    def pre_validate(self, form) -> None:
        if self.data:
            super().pre_validate(form)


class EditionCopyForm(FlaskForm):
    """A new edition made from an existing one: its name, address and first day."""

    name = StringField(
        _l("Name (Danish)"),
        [InputRequired(REQUIRED), Length(max=200, message=TOO_LONG)],
        filters=[_strip],
    )
    name_en = StringField(
        _l("Name (English)"), [Optional(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    slug = StringField(
        _l("Address (slug)"),
        [InputRequired(REQUIRED), Length(max=60, message=TOO_LONG)],
        filters=[_strip],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    starts_on = DateField(
        _l("Day of the event"),
        validators=[InputRequired(_l("Enter the day of the event."))],
    )


class TicketTypeForm(_PricedItemForm):
    is_public = BooleanField(_l("Shown to the public (otherwise only with an access code)"))
    sort_order = IntegerField(
        _l("Sort order"),
        [
            InputRequired(_l("Enter a number.")),
            NumberRange(min=0, max=1000, message=_l("Enter a number from %(min)d to %(max)d.")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    early_bird_price = OptionalKronerField(_l("Early-bird price without VAT (kr.)"))
    early_bird_until = DateField(_l("Early-bird price until (last day)"), validators=[Optional()])


CODE_PRICING_FREE = "free"
CODE_PRICING_DISCOUNT = "discount"
CODE_PRICING_NORMAL = "normal"


class AccessCodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        [InputRequired(REQUIRED), Length(max=60, message=TOO_LONG)],
        filters=[_strip],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    ticket_type_id = SelectField(
        _l("Ticket type it unlocks"),
        coerce=int,
        validators=[InputRequired(_l("Choose a ticket type."))],
    )
    pricing = RadioField(
        _l("Price with the code"),
        choices=[
            SelectChoice(CODE_PRICING_FREE, _l("Free of charge")),
            SelectChoice(CODE_PRICING_DISCOUNT, _l("A reduced price")),
            SelectChoice(CODE_PRICING_NORMAL, _l("The ticket type's price")),
        ],
        validators=[InputRequired(_l("Choose the price with the code."))],
    )
    price = OptionalKronerField(_l("Reduced price without VAT (kr.)"))
    max_uses = IntegerField(
        _l("Number of uses (places)"),
        [InputRequired(_l("Enter the number of uses."))],
        render_kw={"inputmode": "numeric"},
    )
    note = StringField(
        _l("Note (who it is for)"),
        [Optional(), Length(max=200, message=TOO_LONG)],
        filters=[_strip],
    )

    def validate_price(self, field) -> None:
        if self.pricing.data == CODE_PRICING_DISCOUNT and not field.data:
            raise ValidationError(_l("Enter the reduced price."))

    @property
    def price_ore(self) -> int | None:
        if self.pricing.data == CODE_PRICING_FREE:
            return 0
        if self.pricing.data == CODE_PRICING_DISCOUNT:
            return self.price.ore
        return None
