"""The demo edition of ``make run`` comes with registrations, so an organiser
trying the system finds a dashboard, a registrant list and invoices to look at."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from conference.core.db import db
from conference.events.commands import DEMO_REGISTRATIONS, load_demo
from conference.events.models import Edition
from conference.events.services import copenhagen_date
from conference.invoicing.models import Invoice
from conference.invoicing.ubl import invoice_ubl
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order
from tests.auth.helpers import log_in, make_staff
from tests.invoicing.peppol import assert_valid_peppol


def _load(app, year: int = 2031):
    result = app.test_cli_runner().invoke(load_demo, ["--year", str(year)])
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_load_registers_the_demo_groups_once(app):
    places = sum(len(r["attendees"]) for r in DEMO_REGISTRATIONS)
    # A demo of a year whose registration has not opened yet still gets them.
    output = _load(app)
    assert f"({places} taken by {len(DEMO_REGISTRATIONS)} registrations)" in output
    edition = db.session.scalar(select(Edition))
    orders = db.session.scalars(select(Order).order_by(Order.id)).all()
    assert [o.organisation for o in orders] == [r["organisation"] for r in DEMO_REGISTRATIONS]
    assert {o.status for o in orders} == {"confirmed"}
    assert edition.quotas[0].taken == places
    assert db.session.scalar(select(func.count(Attendee.id))) == places

    # Every paid order has its invoice; the speaker's free place has none.
    speaker = next(o for o in orders if o.organisation == "Vejle Kommune")
    assert speaker.total_net_ore == 0 and speaker.payment_status == "free"
    invoices = db.session.scalars(select(Invoice).order_by(Invoice.id)).all()
    order_invoices = [i for i in invoices if i.order_id is not None]
    assert sorted(i.order_id for i in order_invoices) == sorted(
        o.id for o in orders if o is not speaker
    )
    aarhus = orders[0]
    (aarhus_invoice,) = [i for i in order_invoices if i.order_id == aarhus.id]
    # Three places at 2.575,00 kr. + 25 % moms.
    assert aarhus_invoice.total_ore == 3 * 321_875
    assert aarhus_invoice.buyer_ean == "5798000123458"
    for invoice in order_invoices:
        assert_valid_peppol(invoice_ubl(invoice), invoice.number)

    # The confirmations and tickets are in the outbox, in the booker's language.
    kinds = db.session.execute(
        select(OutboxMessage.kind, OutboxMessage.language).where(
            OutboxMessage.order_id.is_not(None)
        )
    ).all()
    assert sum(1 for kind, _ in kinds if kind == "order_confirmation") == len(orders)
    assert sum(1 for kind, _ in kinds if kind == "ticket") == places
    english = next(o for o in orders if o.language == "en")
    assert english.organisation == "Region Syddanmark"

    # Placed over the past weeks, oldest first: the invoice numbers follow the
    # calendar, each invoice dated the day its order was placed.
    days = [copenhagen_date(o.created_at) for o in orders]
    assert days == sorted(days) and len(set(days)) == len(orders)
    assert copenhagen_date() - days[0] >= timedelta(days=20)
    by_order = {i.order_id: i for i in order_invoices}
    for order in orders:
        if order is not speaker:
            assert by_order[order.id].issued_on == copenhagen_date(order.created_at)
            assert all(a.created_at == order.created_at for a in order.attendees)
    numbered = sorted(order_invoices, key=lambda i: i.sequence)
    assert [i.issued_on for i in numbered] == sorted(i.issued_on for i in numbered)

    again = _load(app)
    assert "already exists" in again
    assert db.session.scalar(select(func.count(Order.id))) == len(orders)


def test_the_organiser_sees_the_demo_registrations(app, client):
    _load(app, 2032)
    edition = db.session.scalar(select(Edition))
    make_staff()
    log_in(client, "organiser@example.dk")
    dashboard = client.get(f"/staff/e/{edition.slug}").get_data(as_text=True)
    confirmed = re.search(r'id="stat-confirmed".*?class="value">(\d+)<', dashboard, re.S)
    assert confirmed and int(confirmed.group(1)) == 10
    page = client.get(f"/staff/e/{edition.slug}/registrants?q=aarhus").get_data(as_text=True)
    assert "Fatima Ali" in page and "Mikkel Thomsen" in page
    assert "Ida Skov" not in page
