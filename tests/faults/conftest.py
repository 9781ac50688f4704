"""Faults injected from outside the app: a second database connection that
terminates the backend serving a request, SMTP servers that misbehave, a Stripe
fake that answers 500 or does not answer in time. Nothing inside the app is
replaced; the hooks only watch the SQL the app sends and decide when to strike."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from conference.core.db import db
from tests.faults.smtp import FaultyInbox
from tests.mail.conftest import SmtpServer, smtp_port  # noqa: F401 - a fixture used here


@pytest.fixture
def terminate_backend(database_url) -> Iterator[Callable[[int], None]]:
    """Terminate a PostgreSQL backend by pid from a connection of its own, as an
    operator, a crashing server or a failover would, and wait until it is gone."""
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as connection:

        def terminate(pid: int) -> None:
            # The timeout makes pg_terminate_backend wait until the backend has exited.
            (gone,) = connection.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()
            assert gone, f"backend {pid} did not go away"

        def terminate_all_others() -> int:
            """Every other connection to this database: a restart, as the app sees it."""
            rows = connection.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
            assert all(gone for (gone,) in rows)
            return len(rows)

        terminate.all_others = terminate_all_others  # type: ignore[attr-defined]
        yield terminate


@contextmanager
def connection_killed_after(
    engine: Engine, statement: str, terminate: Callable[[int], None]
) -> Iterator[list[int]]:
    """Kill the connection that runs the first statement matching the regular
    expression ``statement`` (at its start), right after the database answered it:
    the statements after it, and the COMMIT, find the connection dead. Yields the
    list the victim's pid is put in."""
    pattern = re.compile(statement)
    victims: list[int] = []

    def after_cursor_execute(conn, cursor, text, parameters, context, executemany):
        if not victims and pattern.match(text.lstrip()):
            victims.append(cursor.connection.info.backend_pid)
            terminate(victims[0])

    event.listen(engine, "after_cursor_execute", after_cursor_execute)
    try:
        yield victims
    finally:
        event.remove(engine, "after_cursor_execute", after_cursor_execute)


@contextmanager
def connection_killed_at_commit(
    engine: Engine, terminate: Callable[[int], None]
) -> Iterator[list[int]]:
    """Kill the connection just before its first COMMIT reaches the database."""
    victims: list[int] = []

    def before_commit(conn) -> None:
        if not victims:
            victims.append(conn.connection.dbapi_connection.info.backend_pid)
            terminate(victims[0])

    event.listen(engine, "commit", before_commit)
    try:
        yield victims
    finally:
        event.remove(engine, "commit", before_commit)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- SMTP -------------------------------------------------------------------------


@pytest.fixture
def faulty_smtp(smtp_port) -> Iterator[SmtpServer]:  # noqa: F811 - the imported fixture
    """An SMTP server with a FaultyInbox on the app's mail port, not started yet."""
    server = SmtpServer(smtp_port)
    server.inbox = FaultyInbox()
    yield server
    server.stop()
