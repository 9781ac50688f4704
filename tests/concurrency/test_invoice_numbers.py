"""16 threads issuing 25 invoices each on PostgreSQL: numbers exactly 1..400, no gaps, no twins."""

from __future__ import annotations

from sqlalchemy import select

from conference.core.db import db
from conference.invoicing.models import Invoice
from conference.invoicing.services import issue_invoice
from conference.registration.models import Order
from conference.registration.services import place_order
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only

THREADS = 16
PER_THREAD = 25


def _issuer(order_ids: list[int]):
    def job():
        numbers = []
        for index, order_id in enumerate(order_ids):
            order = db.session.get(Order, order_id)
            if index % 6 == 2:
                # A transaction that takes a number and then fails must give it back.
                issue_invoice(order)
                db.session.rollback()
                order = db.session.get(Order, order_id)
            invoice = issue_invoice(order)
            db.session.commit()
            numbers.append(invoice.number)
        return numbers

    return job


def test_sixteen_threads_issue_numbers_one_to_four_hundred(app, race_app, edition):
    edition.quotas[0].capacity = THREADS * PER_THREAD
    db.session.commit()
    order_ids = []
    for index in range(THREADS * PER_THREAD):
        placed = place_order(
            edition, booking_details(edition, 1, booker_email=f"b{index}@kommune.dk")
        )
        order_ids.append(placed.order.id)
    db.session.commit()
    db.session.close()
    # place_order invoiced each order once already; the racers use a series of their own.
    race_app.config["INVOICE_NUMBER_PREFIX"] = "R{year}-"

    jobs = [_issuer(order_ids[t * PER_THREAD : (t + 1) * PER_THREAD]) for t in range(THREADS)]
    outcomes = run_together(race_app, jobs, timeout=120)

    assert [o.trace for o in outcomes if o.error is not None] == []
    issued = sorted(n for o in outcomes for n in o.value)
    assert len(issued) == len(set(issued)) == THREADS * PER_THREAD
    sequences = db.session.scalars(
        select(Invoice.sequence)
        .where(Invoice.series_prefix.startswith("R"))
        .order_by(Invoice.sequence)
    ).all()
    assert sequences == list(range(1, THREADS * PER_THREAD + 1))
    assert all(number.startswith("R") for number in issued)
