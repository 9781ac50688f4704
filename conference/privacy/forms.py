"""The organiser's confirmation before an edition's personal data is erased."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms.validators import DataRequired


class EraseForm(FlaskForm):
    confirm = BooleanField(
        _l(
            "Yes, erase the personal data of this edition's participants, bookers, waiting "
            "list and exhibitor staff. This cannot be undone."
        ),
        validators=[DataRequired(_l("Tick the box to confirm the erasure."))],
    )
