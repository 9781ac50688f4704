"""A request that only read ends its transaction with COMMIT; one that wrote is rolled back.

psycopg forgets a connection's prepared statements on every ROLLBACK, so ending
reads with COMMIT lets PostgreSQL reuse its plans (conference/core/db.py). That
must never commit a write a view left behind without committing it.
"""

from __future__ import annotations

from sqlalchemy import event, select, text, update

from conference.core.db import db
from conference.events.models import Quota
from tests.conftest import booking_form, postgres_only


def _taken(quota_id: int) -> int:
    return db.session.scalar(select(Quota.taken).where(Quota.id == quota_id))


def _taken_now(app, quota_id: int) -> int:
    """Read in a fresh app context (a request of its own), leaving the test's session idle."""
    db.session.commit()
    with app.app_context():
        return _taken(quota_id)


def test_a_request_that_wrote_without_committing_changes_nothing(app, edition):
    quota_id = edition.quotas[0].id
    before = _taken_now(app, quota_id)
    with app.app_context():
        # A Core write leaves the session's bookkeeping empty: only the statement shows it.
        db.session.execute(update(Quota).where(Quota.id == quota_id).values(taken=Quota.taken + 3))
    assert _taken_now(app, quota_id) == before


def test_a_request_that_failed_after_reading_changes_nothing(app, edition):
    quota_id = edition.quotas[0].id
    before = _taken_now(app, quota_id)
    try:
        with app.app_context():
            db.session.get(Quota, quota_id).taken += 2
            db.session.flush()
            raise RuntimeError("the view failed")
    except RuntimeError:
        pass
    assert _taken_now(app, quota_id) == before


def test_a_pending_change_left_in_the_session_is_not_committed(app, edition):
    quota_id = edition.quotas[0].id
    before = _taken_now(app, quota_id)
    with app.app_context():
        db.session.get(Quota, quota_id).taken += 1  # dirty, never flushed
    assert _taken_now(app, quota_id) == before


def test_a_read_only_request_sees_what_was_committed_before_it(app, edition):
    quota_id = edition.quotas[0].id
    assert _taken_now(app, quota_id) == 0
    db.session.execute(update(Quota).where(Quota.id == quota_id).values(taken=7))
    db.session.commit()
    assert _taken_now(app, quota_id) == 7


@postgres_only
def test_read_only_requests_keep_postgresql_plans_prepared(app, edition):
    quota_id = edition.quotas[0].id
    db.session.commit()
    for _ in range(20):
        with app.app_context():
            _taken(quota_id)
    with app.app_context():
        prepared = db.session.scalar(
            text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%quota%'")
        )
    assert prepared >= 1


def _booker_page(client, edition) -> str:
    """Register one place as a visitor would; the path of the booker's page."""
    response = client.post(f"/e/{edition.slug}/register", data=booking_form(edition))
    assert response.status_code == 303
    return response.headers["Location"]


def test_the_booker_page_reads_in_autocommit_and_a_later_write_is_transactional_again(
    app, client, edition
):
    quota_id = edition.quotas[0].id
    page = _booker_page(client, edition)
    before = _taken_now(app, quota_id)
    levels: list[str | None] = []

    def note(connection, *_args) -> None:
        levels.append(connection.get_execution_options().get("isolation_level"))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            response = app.test_client().get(page)
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        assert response.status_code == 200
        assert "Hanne Jensen" in response.get_data(as_text=True)
        # Every statement of the page ran outside a transaction ...
        assert levels and set(levels) == {"AUTOCOMMIT"}
        assert not db.session().in_transaction()
        # ... and the session is transactional again afterwards: a write left
        # uncommitted in the same app context is undone.
        db.session.execute(update(Quota).where(Quota.id == quota_id).values(taken=Quota.taken + 5))
    assert _taken_now(app, quota_id) == before
