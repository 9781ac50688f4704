"""The database connection dies in the middle of a registration (PostgreSQL).

A second connection terminates the backend that serves the registration while
it is inside the order's transaction. The booker gets a 503 page in their
language that says nothing was registered; nothing of the order is left (the
server rolled the transaction back), the places are free, the invoice series
has no gap, and the next registration on the same app works (the dead
connection was thrown away).
"""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from conference.core.db import db
from conference.core.models import AuditEvent
from conference.events.models import Quota
from conference.invoicing.models import Invoice
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order
from tests.conftest import booking_form, postgres_only
from tests.faults.conftest import connection_killed_after, connection_killed_at_commit, count

#: Points inside place_order's transaction, in the order the statements run.
INSIDE_THE_TRANSACTION = [
    "INSERT INTO registration_order",  # the order written, nothing claimed yet
    "UPDATE quota SET taken",  # the places claimed (the quota row locked)
    "(INSERT INTO|UPDATE) invoice_number_series",  # an invoice number taken
    r"INSERT INTO invoice \(",  # the invoice written, its e-mails not yet
]


def _nothing_left_of_the_order(edition) -> None:
    db.session.expire_all()
    assert count(Order) == 0
    assert count(Attendee) == 0
    assert count(OutboxMessage) == 0
    assert count(Invoice) == 0
    assert count(AuditEvent) == 0
    assert db.session.scalar(select(Quota.taken).where(Quota.edition_id == edition.id)) == 0


def _next_registration_works(client, edition, count_: int = 2) -> None:
    response = client.post(f"/e/{edition.slug}/register", data=booking_form(edition, count_))
    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    db.session.expire_all()
    (order,) = db.session.scalars(select(Order)).all()
    assert order.status == "confirmed"
    assert len(order.attendees) == count_
    assert db.session.scalar(select(Quota.taken).where(Quota.edition_id == edition.id)) == count_
    # The number taken in the lost transaction went back with it: no gap in the series.
    (invoice,) = db.session.scalars(select(Invoice)).all()
    assert invoice.sequence == 1
    assert count(OutboxMessage) == 1 + count_


@postgres_only
@pytest.mark.parametrize("statement", INSIDE_THE_TRANSACTION)
def test_a_killed_connection_inside_the_transaction_registers_nothing_and_says_so(
    app, client, edition, terminate_backend, statement
):
    with connection_killed_after(db.engine, statement, terminate_backend) as victims:
        response = client.post(f"/e/{edition.slug}/register", data=booking_form(edition, 2))

    assert victims, f"no statement starting with {statement!r} ran"
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    page = response.get_data(as_text=True)
    assert 'id="database-unavailable" data-in-doubt="no"' in page
    assert "Intet blev registreret" in page  # Danish, the default language
    assert "Traceback" not in page and "psycopg" not in page
    _nothing_left_of_the_order(edition)
    _next_registration_works(client, edition)


@postgres_only
def test_the_page_is_in_the_bookers_language(app, client, edition, terminate_backend):
    client.get(f"/e/{edition.slug}?lang=en")
    with connection_killed_after(db.engine, "UPDATE quota SET taken", terminate_backend):
        response = client.post(f"/e/{edition.slug}/register", data=booking_form(edition, 1))

    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Nothing was registered or changed. Please try again in a moment." in page
    assert '<html lang="en"' in page
    _nothing_left_of_the_order(edition)


@postgres_only
def test_a_connection_lost_after_the_last_write_registers_nothing(
    app, client, edition, terminate_backend
):
    # The e-mails are the last write; what fails next is the savepoint's release
    # or the COMMIT, depending on how place_order ends its work. Either page is
    # honest (see the next test); what counts is that nothing is left.
    with connection_killed_after(db.engine, "INSERT INTO outbox_message", terminate_backend):
        response = client.post(f"/e/{edition.slug}/register", data=booking_form(edition, 2))

    assert response.status_code == 503
    assert 'id="database-unavailable"' in response.get_data(as_text=True)
    _nothing_left_of_the_order(edition)
    _next_registration_works(client, edition)


@postgres_only
def test_a_connection_lost_at_commit_does_not_claim_nothing_was_saved(
    app, client, edition, terminate_backend
):
    # Killed as the COMMIT is about to be sent: the COMMIT itself fails. Here the
    # server never received it, but a connection lost during COMMIT can also mean
    # it was applied, and the app cannot tell which: it says so.
    with connection_killed_at_commit(db.engine, terminate_backend) as victims:
        response = client.post(f"/e/{edition.slug}/register", data=booking_form(edition, 2))

    assert victims
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert 'data-in-doubt="yes"' in page
    assert "Intet blev registreret" not in page
    _nothing_left_of_the_order(edition)
    _next_registration_works(client, edition)


@postgres_only
def test_a_database_restart_between_requests_is_not_seen_by_the_next_booker(
    app, client, edition, terminate_backend
):
    # Every pooled connection dies (a restart, a failover): the checkout sees on
    # each socket that the server closed it and opens a new one, so the next
    # request just works.
    assert client.get(f"/e/{edition.slug}/register").status_code == 200
    db.session.remove()
    assert terminate_backend.all_others() >= 1

    _next_registration_works(client, edition)


@postgres_only
def test_without_the_closed_connection_check_the_first_request_after_a_restart_gets_503(
    database_url, app, edition, terminate_backend
):
    # What the checkout's look at the socket saves us from, and that the page
    # covers it where it is off (or where a connection dies without a word).
    from conference import create_app

    bare = create_app(
        "testing",
        {"SQLALCHEMY_DATABASE_URI": database_url, "DATABASE_REPLACE_CLOSED_CONNECTIONS": False},
    )
    slug = edition.slug
    db.session.remove()
    try:
        with bare.app_context():
            bare_client = bare.test_client()
            assert bare_client.get(f"/e/{slug}/register").status_code == 200
            db.session.remove()
            terminate_backend.all_others()
            response = bare_client.get(f"/e/{slug}/register")
            assert response.status_code == 503
            assert 'data-in-doubt="no"' in response.get_data(as_text=True)
            # The dead connection was thrown away: the one after works.
            assert bare_client.get(f"/e/{slug}/register").status_code == 200
    finally:
        with bare.app_context():
            db.engine.dispose()


# --- which errors get the page (any database) -------------------------------------


class _Driver(Exception):
    pass


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (sa_exc.OperationalError("SELECT 1", {}, _Driver("server closed the connection")), True),
        (sa_exc.DBAPIError("SELECT 1", {}, _Driver("gone"), connection_invalidated=True), True),
        (sa_exc.TimeoutError("QueuePool limit reached"), True),
        (sa_exc.IntegrityError("INSERT", {}, _Driver("duplicate key")), False),
        (sa_exc.ProgrammingError("SELEC 1", {}, _Driver("syntax error")), False),
        (ValueError("not the database"), False),
    ],
)
def test_only_an_unreachable_database_gets_the_503_page_a_bug_stays_a_500(error, unavailable):
    from conference.core.errors import database_unavailable

    assert database_unavailable(error) is unavailable
    # Also when it is what caused the error that reached the view.
    try:
        try:
            raise error
        except Exception as cause:
            raise sa_exc.PendingRollbackError("roll back first") from cause
    except sa_exc.PendingRollbackError as wrapped:
        assert database_unavailable(wrapped) is unavailable
