"""Forms of the accounting screens."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, ValidationError
from wtforms.validators import InputRequired, Length, Optional

from conference.core.money import parse_kroner
from conference.invoicing.accounting import StatusFilter


def status_choices() -> list[tuple[str, str]]:
    return [
        (StatusFilter.ALL, _l("All")),
        (StatusFilter.UNPAID, _l("Unpaid (incl. overdue)")),
        (StatusFilter.OVERDUE, _l("Overdue")),
        (StatusFilter.PAID, _l("Paid")),
        (StatusFilter.CREDITED, _l("Credited in full")),
        (StatusFilter.CREDIT_NOTES, _l("Credit notes")),
    ]


class PeriodForm(FlaskForm):
    """From and to issue dates (both included); a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])

    def validate_end(self, field: DateField) -> None:
        if self.start.data and field.data and field.data < self.start.data:
            raise ValidationError(_l("The end date is before the start date."))


class DocumentFilterForm(PeriodForm):
    status = SelectField(
        _l("Status"),
        choices=status_choices,
        default=StatusFilter.ALL,
        validators=[Optional()],
    )


class MarkPaidForm(FlaskForm):
    """A bank transfer that arrived: the day and the amount in kroner."""

    paid_on = DateField(
        _l("Date paid"),
        validators=[InputRequired(_l("Enter the date the money arrived."))],
    )
    amount = StringField(
        _l("Amount (kr.)"),
        validators=[InputRequired(_l("Enter the amount paid.")), Length(max=20)],
    )

    def validate_amount(self, field: StringField) -> None:
        try:
            parse_kroner(field.data or "")
        except ValueError:
            raise ValidationError(_l("Enter an amount in kroner, like 3.218,75.")) from None

    @property
    def amount_ore(self) -> int:
        return parse_kroner(self.amount.data)
