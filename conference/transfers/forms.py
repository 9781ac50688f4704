"""Forms for handing a place to a colleague and for deciding requests."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, RadioField, StringField, TextAreaField
from wtforms.fields import EmailField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Length, Optional

from conference.transfers.models import OutsideDomainRule
from conference.transfers.services import Colleague

REQUIRED = _l("This field is required.")
TOO_LONG = _l("This is too long (at most %(max)d characters).")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class TransferForm(FlaskForm):
    """The colleague who takes the place. ``version`` is the place as the person saw it."""

    name = StringField(
        _l("The colleague's full name"),
        [InputRequired(REQUIRED), Length(max=200, message=TOO_LONG)],
        filters=[_strip],
    )
    email = EmailField(
        _l("The colleague's e-mail"),
        [
            InputRequired(REQUIRED),
            Email(_l("Enter a valid e-mail address."), check_deliverability=False),
            Length(max=254, message=TOO_LONG),
        ],
        filters=[_strip],
    )
    job_title = StringField(
        _l("Job title"), [Optional(), Length(max=200, message=TOO_LONG)], filters=[_strip]
    )
    dietary = StringField(
        _l("Dietary needs"), [Optional(), Length(max=300, message=TOO_LONG)], filters=[_strip]
    )
    version = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])
    confirm_outside = BooleanField(_l("Yes, the colleague has another e-mail domain"))

    def colleague(self) -> Colleague:
        return Colleague(
            name=self.name.data or "",
            email=self.email.data or "",
            job_title=self.job_title.data or "",
            dietary=self.dietary.data or "",
        )

    def add_errors(self, errors: dict[str, str]) -> None:
        for name, message in errors.items():
            field = getattr(self, name, None)
            if field is not None and message not in field.errors:
                field.errors = [*field.errors, message]


class DecisionForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (sent to the person who asked)"),
        validators=[Optional(), Length(max=500, message=TOO_LONG)],
    )


class OutsideRuleForm(FlaskForm):
    rule = RadioField(
        _l("Transfers to an e-mail domain outside the booker's organisation"),
        choices=[
            SelectChoice(OutsideDomainRule.APPROVAL.value, _l("Wait for an organiser's approval")),
            SelectChoice(OutsideDomainRule.ALLOW.value, _l("Go through after a warning")),
        ],
        validators=[InputRequired(_l("Choose a rule."))],
    )
