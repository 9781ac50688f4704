"""The exhibitor's forms: booking a stand, naming the staff, extra passes, the profile.

Field names are the service's (``StandBookingDetails``, ``StaffDetails``,
``ProfileDetails``) so the errors a service reports under a field name land on
the field of the same name. Add-on quantities are read by the view from
``addon-<id>`` fields (the add-ons are the organiser's, not the form's).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.fields import EmailField, TelField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

# The field helpers and messages every public form shares (one wording, one place).
from conference.registration.forms import TOO_LONG, ServiceErrors, _email, _required, _strip
from conference.stands.services import (
    MAX_DESCRIPTION_LENGTH,
    ProfileDetails,
    StaffDetails,
    StandBookingDetails,
)


class StandBookingForm(ServiceErrors, FlaskForm):
    """The booking form. Business rules (CVR, EAN, add-ons, terms) live in the service."""

    company = StringField(
        _l("Company"), [_required(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    cvr = StringField(
        _l("CVR number"), [_required(), Length(max=20, message=TOO_LONG)], filters=[_strip]
    )
    address = StringField(
        _l("Address"), [_required(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    postcode = StringField(
        _l("Postcode"), [_required(), Length(max=10, message=TOO_LONG)], filters=[_strip]
    )
    city = StringField(
        _l("City"), [_required(), Length(max=100, message=TOO_LONG)], filters=[_strip]
    )
    contact_name = StringField(
        _l("Contact person"), [_required(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    contact_email = EmailField(
        _l("Contact person's e-mail"),
        [_required(), _email(), Length(max=254, message=TOO_LONG)],
        filters=[_strip],
    )
    contact_phone = TelField(
        _l("Contact person's phone number"),
        [_required(), Length(max=40, message=TOO_LONG)],
        filters=[_strip],
    )
    invoice_email = EmailField(
        _l("E-mail for the invoice"),
        [_required(), _email(), Length(max=254, message=TOO_LONG)],
        filters=[_strip],
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
    terms_accepted = BooleanField(_l("I accept the exhibitor terms"))

    def to_details(self, addons: dict[int, int], language: str) -> StandBookingDetails:
        """The submitted values as the service's plain StandBookingDetails."""
        return StandBookingDetails(
            company=self.company.data or "",
            cvr=self.cvr.data or "",
            address=self.address.data or "",
            postcode=self.postcode.data or "",
            city=self.city.data or "",
            contact_name=self.contact_name.data or "",
            contact_email=self.contact_email.data or "",
            contact_phone=self.contact_phone.data or "",
            invoice_email=self.invoice_email.data or "",
            ean=self.ean.data or None,
            personreference=self.personreference.data or None,
            buyer_order_number=self.buyer_order_number.data or None,
            accounting_cost=self.accounting_cost.data or None,
            addons=addons,
            terms_accepted=bool(self.terms_accepted.data),
            language=language,
        )


class StaffForm(ServiceErrors, FlaskForm):
    """One member of the stand staff (naming a new one, or changing a pass's holder)."""

    name = StringField(
        _l("Full name"), [_required(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    email = EmailField(
        _l("E-mail"), [_required(), _email(), Length(max=254, message=TOO_LONG)], filters=[_strip]
    )
    job_title = StringField(
        _l("Job title"), [Optional(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    #: The pass's ticket_version as the page showed it (changing a name only).
    version = HiddenField()

    def to_details(self) -> StaffDetails:
        return StaffDetails(
            name=self.name.data or "",
            email=self.email.data or "",
            job_title=self.job_title.data or "",
        )


class ExtraPassForm(ServiceErrors, FlaskForm):
    quantity = IntegerField(
        _l("Number of extra passes"),
        default=1,
        validators=[
            InputRequired(message=_l("Choose how many.")),
            NumberRange(min=1, max=50, message=_l("Choose how many.")),
        ],
    )


class ProfileForm(ServiceErrors, FlaskForm):
    """The company's public profile: description, website and logo."""

    description = TextAreaField(
        _l("Short description of the company"),
        [Optional(), Length(max=MAX_DESCRIPTION_LENGTH, message=TOO_LONG)],
        filters=[_strip],
    )
    website = StringField(
        _l("Website"), [Optional(), Length(max=300, message=TOO_LONG)], filters=[_strip]
    )
    logo = FileField(_l("Logo (PNG or JPEG, at most 1 MB)"))
    remove_logo = BooleanField(_l("Remove the logo"))

    def to_details(self, logo: bytes | None) -> ProfileDetails:
        return ProfileDetails(
            description=self.description.data or "",
            website=self.website.data or "",
            logo=logo,
            remove_logo=bool(self.remove_logo.data),
        )
