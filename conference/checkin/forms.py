"""Forms at the door and for the badges."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SearchField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional


class ScanForm(FlaskForm):
    """The scanned QR payload: from the camera (JavaScript), a USB scanner or the search."""

    code = StringField(
        _l("Ticket code"),
        validators=[
            InputRequired(_l("Scan a ticket or search for a name.")),
            # Longer than any ticket: refused by the service as an unknown ticket.
            Length(max=4000),
        ],
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )


class DoorSearchForm(FlaskForm):
    """A GET search: no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField(_l("Name or organisation"), validators=[Optional(), Length(max=200)])


class BadgeFilterForm(FlaskForm):
    """A GET filter for the badge PDF: no CSRF token."""

    class Meta:
        csrf = False

    ticket_type = SelectField(_l("Ticket type"), coerce=int, validators=[Optional()])
    q = SearchField(_l("Name or organisation"), validators=[Optional(), Length(max=200)])
    arrival = RadioField(
        _l("Who"),
        choices=[
            SelectChoice("", _l("Everyone")),
            SelectChoice("arrived", _l("Checked in")),
            SelectChoice("not_arrived", _l("Not checked in yet")),
        ],
        default="",
        validators=[Optional()],
    )
    kind = RadioField(
        _l("Badges for"),
        choices=[
            SelectChoice("", _l("Attendees and exhibitors")),
            SelectChoice("attendees", _l("Attendees only")),
            SelectChoice("exhibitors", _l("Exhibitors only")),
        ],
        default="",
        validators=[Optional()],
    )


class UndoCheckInForm(FlaskForm):
    """An organiser takes back a mistaken check-in; the tick confirms it."""

    confirm = BooleanField(
        _l("Yes, undo the check-in. The person is counted as not arrived."),
        validators=[DataRequired(_l("Tick the box to confirm that the check-in is undone."))],
    )
