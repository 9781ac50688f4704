"""Real threads against the real database, each with its own app context and session."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conference import create_app
from conference.core.db import db

#: Connections the racing threads may open at once (PostgreSQL allows 100 in all,
#: shared with the other test databases on this machine).
RACE_POOL_SIZE = 30


@dataclass
class Outcome:
    """What one thread ended with: a value it returned or the exception it raised."""

    value: Any = None
    error: BaseException | None = None
    trace: str = ""


@pytest.fixture
def race_app(app, database_url):
    """A second app on the same database with a pool big enough for a rush.

    Depends on ``app`` so the tables are emptied first; the threads use this
    one, the test body keeps using ``app`` for set-up and checks.
    """
    racing = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_size": RACE_POOL_SIZE,
                "max_overflow": 0,
                "pool_timeout": 30,
            },
        },
    )
    yield racing
    with racing.app_context():
        db.engine.dispose()


def run_together(racing_app, jobs: list[Callable[[], Any]], timeout: float = 60) -> list[Outcome]:
    """Run each job in its own thread, all released at once by a barrier.

    A job runs inside its own app context (its own session) and is committed
    when it returns, rolled back when it raises; the exception is recorded,
    never swallowed silently. The caller's session must not hold a
    transaction open (on SQLite it would hold the write lock).
    """
    barrier = threading.Barrier(len(jobs))
    outcomes = [Outcome() for _ in jobs]

    def run(index: int, job: Callable[[], Any]) -> None:
        with racing_app.app_context():
            try:
                barrier.wait(timeout=timeout)
                outcomes[index].value = job()
                db.session.commit()
            except BaseException as error:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                outcomes[index].error = error
                outcomes[index].trace = traceback.format_exc()
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=run, args=(i, job), name=f"race-{i}") for i, job in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    return outcomes
