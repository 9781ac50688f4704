"""The public registration form: one booker, 1..20 colleagues, invoice details.

Field names are the service's (``BookingDetails``) so the errors a service
reports under a field name land on the field of the same name.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, RadioField, SelectField, StringField
from wtforms.fields import EmailField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Length, Optional

from conference.registration.models import OrganisationType, PaymentMethod
from conference.registration.services import MAX_GROUP_SIZE, AttendeeDetails, BookingDetails

REQUIRED = _l("This field is required.")
BAD_EMAIL = _l("Enter a valid e-mail address.")
TOO_LONG = _l("This is too long (at most %(max)d characters).")


def _required():
    return InputRequired(message=REQUIRED)


def _email():
    return Email(message=BAD_EMAIL, granular_message=False, check_deliverability=False)


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ServiceErrors:
    """For a form a service checks: the service's field errors on the fields, and the
    summary list of every error the page shows above the form."""

    def add_errors(self, errors: dict[str, str]) -> None:
        """Put a service's field errors on the fields; one it cannot place goes on the form."""
        for name, message in errors.items():
            field = self._field_named(name)
            if field is None:
                self.form_errors.append(message)
            elif not field.errors:
                # A field the form already refused keeps that message: one at a time.
                field.errors = [message]

    def _field_named(self, name: str):
        return self._fields.get(name)

    def error_list(self) -> list[tuple[str, str, str]]:
        """(id to link to, label, message) of every error, in the order the fields appear."""
        return [found for field in self for found in self._errors_of(field)]

    def _errors_of(self, field) -> list[tuple[str, str, str]]:
        if not (field.errors and isinstance(field.errors, list | tuple)):
            return []
        # A radio group is reached through its first button.
        target = f"{field.id}-0" if field.type == "RadioField" else field.id
        return [(target, str(field.label.text), field.errors[0])]


class AttendeeForm(Form):
    """One colleague's place (a plain Form: the CSRF token belongs to the outer form)."""

    class Meta:
        # Subforms of a FieldList must not add their own CSRF field.
        csrf = False

    name = StringField(
        _l("Full name"), [_required(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    email = EmailField(
        _l("E-mail"), [_required(), _email(), Length(max=254, message=TOO_LONG)], filters=[_strip]
    )
    job_title = StringField(
        _l("Job title"), [Optional(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    dietary = StringField(
        _l("Dietary needs"), [Optional(), Length(max=300, message=TOO_LONG)], filters=[_strip]
    )


def payment_method_choices() -> list[SelectChoice]:
    return [
        SelectChoice(PaymentMethod.INVOICE.value, _l("Invoice")),
        SelectChoice(PaymentMethod.CARD.value, _l("Card, now")),
    ]


def organisation_type_choices() -> list[SelectChoice]:
    return [
        SelectChoice(OrganisationType.MUNICIPALITY.value, _l("Municipality")),
        SelectChoice(OrganisationType.REGION.value, _l("Region")),
        SelectChoice(OrganisationType.STATE.value, _l("State institution")),
        SelectChoice(OrganisationType.PRIVATE.value, _l("Private company or other")),
    ]


class RegistrationForm(ServiceErrors, FlaskForm):
    """The booking form. Business rules (CVR, EAN, duplicates) live in the service."""

    # validate_choice=False: a hidden ticket type's id may come back with its access
    # code; the service decides whether the code unlocks it.
    ticket_type_id = RadioField(
        _l("Ticket type"), coerce=int, validate_choice=False, validators=[Optional()]
    )
    access_code = StringField(
        _l("Access code"), [Optional(), Length(max=60, message=TOO_LONG)], filters=[_strip]
    )

    booker_name = StringField(
        _l("Your name"), [_required(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    booker_email = EmailField(
        _l("Your e-mail"),
        [_required(), _email(), Length(max=254, message=TOO_LONG)],
        filters=[_strip],
    )
    booker_phone = TelField(
        _l("Your phone number"), [_required(), Length(max=40, message=TOO_LONG)], filters=[_strip]
    )
    organisation = StringField(
        _l("Organisation"), [_required(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    organisation_type = RadioField(
        _l("Type of organisation"),
        choices=organisation_type_choices(),
        validators=[InputRequired(message=_l("Choose the type of organisation."))],
    )

    attendee_count = SelectField(
        _l("Number of participants"),
        coerce=int,
        choices=[SelectChoice(n, str(n)) for n in range(1, MAX_GROUP_SIZE + 1)],
        validate_choice=False,
        validators=[Optional()],
    )
    attendees = FieldList(FormField(AttendeeForm), min_entries=1, max_entries=MAX_GROUP_SIZE)

    # Shown only when card payments are enabled; the service refuses "card" otherwise.
    payment_method = RadioField(
        _l("Payment"),
        choices=payment_method_choices(),
        default=PaymentMethod.INVOICE.value,
        validators=[Optional()],
    )

    invoice_organisation = StringField(
        _l("Organisation on the invoice"),
        [_required(), Length(max=200, message=TOO_LONG)],
        filters=[_strip],
    )
    invoice_address = StringField(
        _l("Address"), [_required(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    invoice_postcode = StringField(
        _l("Postcode"), [_required(), Length(max=10, message=TOO_LONG)], filters=[_strip]
    )
    invoice_city = StringField(
        _l("City"), [_required(), Length(max=100, message=TOO_LONG)], filters=[_strip]
    )
    cvr = StringField(
        _l("CVR number"), [Optional(), Length(max=20, message=TOO_LONG)], filters=[_strip]
    )
    ean = StringField(
        _l("EAN location number"), [Optional(), Length(max=20, message=TOO_LONG)], filters=[_strip]
    )
    personreference = StringField(
        _l("Personreference"), [Optional(), Length(max=100, message=TOO_LONG)], filters=[_strip]
    )
    buyer_order_number = StringField(
        _l("Order number"), [Optional(), Length(max=100, message=TOO_LONG)], filters=[_strip]
    )
    accounting_cost = StringField(
        _l("Kontostreng"), [Optional(), Length(max=100, message=TOO_LONG)], filters=[_strip]
    )

    def resize(self, count: int) -> None:
        """Show ``count`` participant rows, keeping what was typed in the first ones."""
        count = max(1, min(count, MAX_GROUP_SIZE))
        while len(self.attendees.entries) < count:
            self.attendees.append_entry()
        while len(self.attendees.entries) > count:
            self.attendees.pop_entry()
        self.attendee_count.data = count

    def to_details(self, ticket_type_id: int, language: str) -> BookingDetails:
        """The submitted values as the service's plain BookingDetails."""
        return BookingDetails(
            ticket_type_id=ticket_type_id,
            booker_name=self.booker_name.data or "",
            booker_email=self.booker_email.data or "",
            booker_phone=self.booker_phone.data or "",
            organisation=self.organisation.data or "",
            organisation_type=self.organisation_type.data or "",
            invoice_organisation=self.invoice_organisation.data or "",
            invoice_address=self.invoice_address.data or "",
            invoice_postcode=self.invoice_postcode.data or "",
            invoice_city=self.invoice_city.data or "",
            cvr=self.cvr.data or None,
            ean=self.ean.data or None,
            personreference=self.personreference.data or None,
            buyer_order_number=self.buyer_order_number.data or None,
            accounting_cost=self.accounting_cost.data or None,
            access_code=self.access_code.data or None,
            payment_method=self.payment_method.data or PaymentMethod.INVOICE.value,
            language=language,
            attendees=[
                AttendeeDetails(
                    name=entry.form.name.data or "",
                    email=entry.form.email.data or "",
                    job_title=entry.form.job_title.data or "",
                    dietary=entry.form.dietary.data or "",
                )
                for entry in self.attendees.entries
            ],
        )

    def _field_named(self, name: str):
        if name.startswith("attendees-"):
            parts = name.split("-")
            if len(parts) == 3 and parts[1].isdigit():
                index = int(parts[1])
                if index < len(self.attendees.entries):
                    return self.attendees.entries[index].form._fields.get(parts[2])
            return None
        if name == "attendees":
            return None
        return self._fields.get(name)

    def _errors_of(self, field) -> list[tuple[str, str, str]]:
        if field.name != "attendees":
            return super()._errors_of(field)
        found: list[tuple[str, str, str]] = []
        for number, entry in enumerate(field.entries, start=1):
            for sub in entry.form:
                if sub.errors:
                    label = _l("Participant %(number)d", number=number)
                    found.append((sub.id, f"{label}: {sub.label.text}", sub.errors[0]))
        return found


class LinkRequestForm(FlaskForm):
    """ "Send me my link again": the e-mail address the registration was made with."""

    email = EmailField(
        _l("E-mail address"),
        validators=[_required(), _email(), Length(max=254, message=TOO_LONG)],
        filters=[_strip],
    )
