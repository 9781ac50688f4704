"""The form an organiser writes a message in, previews it with and sends it from."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional
from wtforms.widgets import HiddenInput

from conference.communication.services import Audience, AudienceChoices, MessageText
from conference.registration.forms import ServiceErrors


class MessageForm(ServiceErrors, FlaskForm):
    """Subject, text and filter; the service checks the text and the filter's values."""

    subject = StringField(_l("Subject"))
    body = TextAreaField(_l("Text"))
    subject_en = StringField(_l("Subject in English"), validators=[Optional()])
    body_en = TextAreaField(_l("Text in English"), validators=[Optional()])
    organisation = SelectField(_l("Organisation"), choices=[], validate_choice=False)
    ticket_type_id = SelectField(_l("Ticket type"), choices=[], validate_choice=False)
    not_checked_in = BooleanField(_l("Only participants not checked in yet"))
    include_bookers = BooleanField(_l("Also the bookers of these participants' orders"))
    #: The number of recipients the preview showed; sending refuses if it changed.
    expected_count = IntegerField(widget=HiddenInput(), validators=[Optional()])

    def offer(self, choices: AudienceChoices, language: str) -> None:
        """Fill the filter's lists with the edition's organisations and ticket types."""
        self.organisation.choices = [("", _l("All organisations"))] + [
            (name, name) for name in choices.organisations
        ]
        self.ticket_type_id.choices = [("", _l("All ticket types"))] + [
            (str(t.id), t.display_name(language)) for t in choices.ticket_types
        ]

    def audience(self) -> Audience:
        raw = (self.ticket_type_id.data or "").strip()
        return Audience(
            organisation=(self.organisation.data or "").strip(),
            ticket_type_id=int(raw) if raw.isdigit() and len(raw) < 10 else None,
            not_checked_in=bool(self.not_checked_in.data),
            include_bookers=bool(self.include_bookers.data),
        )

    def ticket_type_is_garbled(self) -> bool:
        raw = (self.ticket_type_id.data or "").strip()
        return bool(raw) and not (raw.isdigit() and len(raw) < 10)

    def text(self) -> MessageText:
        return MessageText(
            subject=self.subject.data or "",
            body=self.body.data or "",
            subject_en=self.subject_en.data or "",
            body_en=self.body_en.data or "",
        )


class SendForm(MessageForm):
    confirm = BooleanField(
        _l("Yes, send this e-mail to the recipients listed."),
        validators=[DataRequired(_l("Tick the box to confirm sending."))],
    )
