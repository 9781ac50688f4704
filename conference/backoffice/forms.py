"""Forms of the organiser's screens."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SearchField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

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
        _l("Yes, cancel. A credit note is issued and cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm the cancellation."))],
    )
