"""The audit log's search form (a GET form: no CSRF token, nothing changes)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from conference.audit.services import AuditSearch


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class AuditSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Search"), [Optional(), Length(max=200)], filters=[_strip])
    actor = SelectField(_l("Who"), validators=[Optional()], validate_choice=False)
    action = SelectField(_l("Action"), validators=[Optional()], validate_choice=False)
    object_type = SelectField(_l("Object type"), validators=[Optional()], validate_choice=False)
    object_id = IntegerField(
        _l("Object id"),
        validators=[
            Optional(),
            NumberRange(min=0, max=2_147_483_647, message=_l("Enter a whole number.")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])

    def fill_choices(self, actors, actions, object_types) -> None:
        self.actor.choices = [
            SelectChoice("", _l("Anyone")),
            *(SelectChoice(value, label) for value, label in actors),
        ]
        self.action.choices = [
            SelectChoice("", _l("Any action")),
            *(SelectChoice(action, action) for action in actions),
        ]
        self.object_type.choices = [
            SelectChoice("", _l("Any type")),
            *(SelectChoice(kind, kind) for kind in object_types),
        ]

    def validate_date_to(self, field: DateField) -> None:
        if self.date_from.data and field.data and field.data < self.date_from.data:
            raise ValidationError(_l("The end date is before the start date."))

    def search(self) -> AuditSearch:
        """The search asked for; a field with an error is left out."""

        def ok(name: str):
            item = self[name]
            return None if item.errors else item.data

        return AuditSearch(
            text=ok("q") or "",
            actor=ok("actor") or "",
            action=ok("action") or "",
            object_type=ok("object_type") or "",
            object_id=ok("object_id"),
            date_from=ok("date_from"),
            date_to=ok("date_to"),
        )
