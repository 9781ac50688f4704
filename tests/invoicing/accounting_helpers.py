"""Documents issued on chosen days, and staff logged in, for the accounting tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from conference.core.db import db, utcnow
from conference.events.services import copenhagen_date
from conference.invoicing.accounting import Period
from conference.invoicing.models import Invoice
from conference.invoicing.services import (
    InvoiceLine,
    invoice_for_order,
    issue_credit_note,
    record_payment,
)
from conference.registration.models import Order
from conference.registration.services import place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details


def open_registration_long_ago(edition, days: int = 400) -> None:
    """Let orders be placed (and invoiced) as if on any of the last ``days`` days."""
    edition.registration_opens_at = utcnow() - timedelta(days=days)
    db.session.commit()


def days_ago(days: int) -> datetime:
    """A naive UTC moment ``days`` Copenhagen days back, at noon so its date is clear.

    Counted from today's date in Copenhagen, not in UTC: the two differ from
    midnight to one or two in the morning, when the periods the tests ask for
    (counted from Copenhagen's today) would otherwise miss them by a day.
    """
    day = copenhagen_date() - timedelta(days=days)
    return datetime.combine(day, time(11, 0))


def invoice_at(edition, now: datetime, count: int = 1, **overrides) -> Invoice:
    """An order placed (and so invoiced) at ``now`` through the registration service."""
    placed = place_order(edition, booking_details(edition, count, **overrides), now=now)
    db.session.commit()
    invoice = invoice_for_order(placed.order)
    assert invoice is not None and invoice.issued_on == copenhagen_date(now)
    return invoice


def credit(invoice: Invoice, quantity: int, *, now: datetime | None = None) -> Invoice:
    """A credit note taking back ``quantity`` places of the invoice's first line."""
    line = invoice.lines[0]
    note = issue_credit_note(
        invoice,
        [InvoiceLine(line["description"], quantity, line["unit_net_ore"], line["vat_percent"])],
        order=db.session.get(Order, invoice.order_id),
        reason="",
        now=now,
    )
    db.session.commit()
    return note


def pay(invoice: Invoice, amount_ore: int | None = None, paid_on: date | None = None) -> None:
    record_payment(
        invoice,
        paid_on=paid_on or copenhagen_date(),
        amount_ore=invoice.total_ore if amount_ore is None else amount_ore,
        method="bank",
        actor="test",
    )
    db.session.commit()


def staff_client(app, role: str):
    """A test client logged in (in English) as a staff user with ``role``."""
    email = f"{role}@example.dk"
    make_staff(email, role)
    client = app.test_client()
    assert log_in(client, email).status_code == 302
    return client


@dataclass
class Documents:
    """One document in every state, issued on known days.

    today: ``unpaid`` (3 places) and ``partial_credit`` against it (1 place).
    45 days ago: ``overdue`` (due 15 days ago) and ``paid`` (settled 40 days ago).
    40 days ago: ``credited`` and ``full_credit`` taking all of it back.
    """

    unpaid: Invoice
    partial_credit: Invoice
    overdue: Invoice
    paid: Invoice
    credited: Invoice
    full_credit: Invoice

    @property
    def all(self) -> list[Invoice]:
        return [
            self.unpaid,
            self.partial_credit,
            self.overdue,
            self.paid,
            self.credited,
            self.full_credit,
        ]

    @property
    def today(self) -> date:
        return copenhagen_date()

    @property
    def old_period(self) -> Period:
        """45 to 35 days ago: the overdue, paid and credited invoices and the full credit."""
        return Period(self.today - timedelta(days=45), self.today - timedelta(days=35))

    @property
    def today_period(self) -> Period:
        return Period(self.today, self.today)

    @property
    def everything(self) -> Period:
        return Period(self.today - timedelta(days=60), self.today)


def make_documents(edition) -> Documents:
    open_registration_long_ago(edition)
    overdue = invoice_at(
        edition,
        days_ago(45),
        2,
        organisation="Odense Kommune",
        invoice_organisation="Odense Kommune, Borgerservice",
        booker_name="Ole Olsen",
        booker_email="ole@odense.dk",
        ean="5798000000018",
    )
    paid = invoice_at(
        edition,
        days_ago(45),
        1,
        organisation="Netcompany A/S",
        organisation_type="private",
        invoice_organisation="Netcompany A/S",
        cvr="14814833",
        ean=None,
        personreference=None,
        language="en",
    )
    pay(paid, paid_on=copenhagen_date(days_ago(40)))
    credited = invoice_at(edition, days_ago(40), 1, invoice_organisation="Vejle Kommune")
    line = credited.lines[0]
    full_credit = issue_credit_note(
        credited,
        [InvoiceLine(line["description"], 1, line["unit_net_ore"], line["vat_percent"])],
        order=db.session.get(Order, credited.order_id),
        reason="",
        now=days_ago(40),
    )
    db.session.commit()
    unpaid = invoice_at(edition, utcnow(), 3)
    partial_credit = credit(unpaid, 1)
    return Documents(
        unpaid=unpaid,
        partial_credit=partial_credit,
        overdue=overdue,
        paid=paid,
        credited=credited,
        full_credit=full_credit,
    )
