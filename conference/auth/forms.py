"""The staff login, second factor, account and staff user forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length

from conference.registration.forms import ServiceErrors


class LoginForm(FlaskForm):
    email = EmailField(
        _l("E-mail"),
        validators=[DataRequired(_l("Enter your e-mail address.")), Length(max=254)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=500)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


ROLE_CHOICES = [
    SelectChoice("organiser", _l("Organiser")),
    SelectChoice("accounting", _l("Accounting")),
    SelectChoice("checkin", _l("Check-in")),
]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class SecondFactorCodeForm(ServiceErrors, FlaskForm):
    """The code from the authenticator app (or a recovery code at login)."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Enter the code.")), Length(max=40)],
        filters=[_strip],
        render_kw={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"},
    )


class EnrolForm(SecondFactorCodeForm):
    """Turning the second factor on: the code proves the app has the secret."""

    code = StringField(
        _l("Code from the app"),
        validators=[DataRequired(_l("Enter the 6-digit code from the app.")), Length(max=40)],
        filters=[_strip],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class DisableSecondFactorForm(ServiceErrors, FlaskForm):
    code = StringField(
        _l("Current code from the app"),
        validators=[DataRequired(_l("Enter the 6-digit code from the app.")), Length(max=40)],
        filters=[_strip],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


def _new_password():
    return PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a password.")), Length(max=500)],
        render_kw={"autocomplete": "new-password"},
    )


def _password_repeat():
    return PasswordField(
        _l("Repeat the new password"),
        validators=[
            DataRequired(_l("Repeat the password.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(ServiceErrors, FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password.")), Length(max=500)],
        render_kw={"autocomplete": "current-password"},
    )
    password = _new_password()
    password_repeat = _password_repeat()


class SetPasswordForm(ServiceErrors, FlaskForm):
    password = _new_password()
    password_repeat = _password_repeat()


class StaffUserForm(ServiceErrors, FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter the name.")), Length(max=200)],
        filters=[_strip],
        render_kw={"autocomplete": "off"},
    )
    email = EmailField(
        _l("E-mail"),
        validators=[
            DataRequired(_l("Enter the e-mail address.")),
            Email(_l("Enter a valid e-mail address."), check_deliverability=False),
            Length(max=254),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "off"},
    )
    role = SelectField(
        _l("Role"),
        choices=ROLE_CHOICES,
        validators=[InputRequired(_l("Choose a role."))],
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(_l("Enter a password.")), Length(max=500)],
        render_kw={"autocomplete": "new-password"},
    )


class RoleForm(ServiceErrors, FlaskForm):
    role = SelectField(
        _l("Role"),
        choices=ROLE_CHOICES,
        validators=[InputRequired(_l("Choose a role."))],
    )


class DeactivateForm(ServiceErrors, FlaskForm):
    confirm = BooleanField(
        _l("Yes, deactivate the user. They are logged out and cannot log in."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class ReactivateForm(FlaskForm):
    """Reactivating needs only the CSRF token: it can be undone by deactivating."""


class ResetSecondFactorForm(ServiceErrors, FlaskForm):
    confirm = BooleanField(
        _l("Yes, turn off the user's second factor. They can set it up again."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class PolicyForm(FlaskForm):
    second_factor_required = BooleanField(
        _l("A second factor is mandatory for organisers and accounting")
    )
