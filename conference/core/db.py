"""The one SQLAlchemy object and the database conventions every area follows.

One transaction per request or command: services add and flush, the view or
command that called them commits once at the end.
"""

from __future__ import annotations

import functools
import select
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event, insert, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import MANYTOONE, DeclarativeBase, make_transient_to_detached

from conference.core.errors import NotFound

# Stable constraint names so Alembic migrations work the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    """Naive UTC now: every timestamp is stored as naive UTC and shown in Copenhagen time."""
    return datetime.now(UTC).replace(tzinfo=None)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, _record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # We issue BEGIN ourselves (below) so SQLite takes the write lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite_immediately(connection) -> None:
    # A deferred SQLite transaction that reads and then writes can fail with
    # "database is locked" when another writer got there first; BEGIN IMMEDIATE
    # queues writers instead, so the conditional capacity update stays correct
    # under the threaded development server.
    # A read in autocommit (see registration_glance) needs no lock at all.
    autocommit = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    if connection.dialect.name == "sqlite" and not autocommit:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# --- read-only transactions end with COMMIT -------------------------------------------
#
# psycopg 3 forgets every prepared statement of a connection on ROLLBACK (DEALLOCATE
# ALL: a rollback may have undone the DDL a plan relied on). A request that only
# read would end with the session's rollback, so no statement ever stayed prepared
# long enough to be reused, and PostgreSQL parsed and planned every query anew:
# half of its CPU in a registration rush. A transaction that wrote nothing ends
# the same way with COMMIT, so such a request commits instead; one that wrote, or
# failed, is rolled back as before.

_WROTE = "conference_transaction_wrote"


@event.listens_for(Engine, "begin")
def _transaction_begins_clean(connection) -> None:
    connection.info[_WROTE] = False


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(connection, _cursor, statement, _parameters, _context, _executemany) -> None:
    # Anything but a plain SELECT counts as a write (INSERT, UPDATE, WITH ..., BEGIN
    # IMMEDIATE): when in doubt, the transaction is rolled back as it always was.
    if statement.lstrip()[:6].upper() != "SELECT":
        connection.info[_WROTE] = True


def end_read_only_transactions_with_commit(app: Flask) -> None:
    """At the end of each app context, commit a transaction that only read (see above)."""

    # Registered after Flask-SQLAlchemy's own teardown, so it runs first.
    @app.teardown_appcontext
    def _commit_reads(error: BaseException | None) -> None:
        if error is not None:
            return
        session = db.session()
        if not session.in_transaction() or session.new or session.dirty or session.deleted:
            return
        try:
            if session.connection().info.get(_WROTE, True):
                return
            session.commit()
        except Exception:  # noqa: BLE001 - the session's own teardown rolls back and discards it
            return


_Answer = TypeVar("_Answer")


def read_only(view: Callable[..., _Answer]) -> Callable[..., _Answer]:
    """Run a view that only reads in autocommit: no BEGIN and no COMMIT round trips.

    For the pages a booker opens after every registration (the manage page, its
    QR codes): a statement or two, each consistent on its own, for which a
    transaction's two round trips cost more than the read. The view must write
    nothing (each write would be committed on its own at once) and return its
    answer rendered: the session's transaction ends when it returns. Where the
    session is already in a transaction (a test's app context shared between
    requests), the view simply runs in that one.
    """

    @functools.wraps(view)
    def reading(*args, **kwargs) -> _Answer:
        session = db.session()
        if session.in_transaction():
            return view(*args, **kwargs)
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        try:
            answer = view(*args, **kwargs)
        except BaseException:
            session.rollback()
            raise
        # Hands the connection back with its usual isolation level, so a later
        # statement of the same session is in a transaction again.
        session.commit()
        return answer

    return reading


# --- connections the server closed ---------------------------------------------------


def replace_connections_the_server_closed(engine: Engine) -> None:
    """Hand out no pooled connection the database server has closed since its last use.

    After a restart or failover every pooled connection is dead, and the first
    request on each would fail. SQLAlchemy's ``pool_pre_ping`` finds them with a
    round trip at every checkout, which a rush pays thousands of times a second.
    A server that ends a connection says so on its socket (the termination
    notice, then end of file), and an idle connection has nothing else to read:
    so a connection whose socket is readable at checkout is given up and the
    pool opens a new one, for the price of one ``select()`` call. (A connection
    cut off without a word, as by a broken network, is not seen; the 503 page
    covers that, see conference/__init__.py.)
    """

    @event.listens_for(engine, "checkout")
    def _refuse_closed(dbapi_connection, _record, _proxy) -> None:
        fileno = getattr(dbapi_connection, "fileno", None)
        if fileno is None:  # SQLite: no server to lose
            return
        try:
            readable, _, _ = select.select([fileno()], [], [], 0)
        except (OSError, ValueError) as error:  # the socket itself is gone
            raise DisconnectionError("the connection's socket is closed") from error
        if readable:
            # The pool invalidates this connection and checks out another.
            raise DisconnectionError("the database server closed this connection")


def insert_new(objects: Sequence[Base]) -> None:
    """Write new objects of one model with one INSERT, bypassing the unit of work.

    For the few writes a registration rush makes thousands of times, where the
    session's flush bookkeeping costs more than the write itself. Python-side
    column defaults are applied to the objects first, the primary keys (and
    columns only the database fills in) come back from RETURNING, and then the
    objects look as if just loaded: detached, with the relationships set on
    them kept. Add them (or the object that cascades to them) to the session
    afterwards to use them like any loaded object. Not for objects that need
    flush-time events (e.g. the immutability check on invoices runs only on
    flushed changes, and a new row has none), nor for objects already pending.
    """
    if not objects:
        return
    plan = _insert_plan(type(objects[0]))
    rows = []
    for obj in objects:
        # Written straight into the object's state, without attribute events (none
        # are listened for on columns here), as a query's loading does: the
        # history that setattr would record is thrown away below anyway, and
        # setting a few dozen defaults through it cost more than the INSERT.
        values = vars(obj)
        for relationship in plan.parents:
            parent = values.get(relationship.key)
            if parent is not None:
                for local, remote in relationship.local_remote_pairs:
                    values[local.key] = getattr(parent, remote.key)
        for column in plan.defaulted:
            if column.key not in values:
                value = column.default.arg if column.default is not None else None
                # The model's attribute names are its column names (every model here).
                values[column.key] = value(None) if callable(value) else value
        rows.append({key: values[key] for key in plan.written if key in values})
    # Pending changes first, as the session's own execute would (a foreign key
    # may point at them); then on its connection, without the ORM's statement
    # handling.
    db.session.flush()
    returned = db.session.connection().execute(plan.statement, rows).all()
    for obj, row in zip(objects, returned, strict=True):
        values = vars(obj)
        for column, value in zip(plan.returned, row, strict=True):
            values.setdefault(column.key, value)
        make_transient_to_detached(obj)


@dataclass(frozen=True)
class _InsertPlan:
    parents: list
    defaulted: list
    written: list[str]
    returned: list
    statement: object


_insert_plans: dict[type, _InsertPlan] = {}


def _insert_plan(model: type) -> _InsertPlan:
    """What ``insert_new`` needs to know about a model, worked out once."""
    plan = _insert_plans.get(model)
    if plan is None:
        table = model.__table__
        (key,) = table.primary_key.columns
        # Columns the database fills in itself when they are left out of the INSERT.
        filled_in = [
            c for c in table.columns if c is not key and c.default is None and c.server_default
        ]
        written = [c for c in table.columns if c is not key]
        plan = _InsertPlan(
            # What the flush would copy from related objects: order.edition -> edition_id.
            parents=[r for r in inspect(model).relationships if r.direction is MANYTOONE],
            defaulted=[c for c in written if c not in filled_in],
            written=[c.key for c in written],
            returned=[key, *filled_in],
            statement=insert(table).returning(key, *filled_in, sort_by_parameter_order=True),
        )
        _insert_plans[model] = plan
    return plan


def normalise_database_url(url: str) -> str:
    """Accept the common postgres:// spellings and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_Row = TypeVar("_Row")


def edition_row(model: type[_Row], ident: int, edition_id: int, missing: str) -> _Row:
    """The row of ``model`` with this id if it belongs to the edition, else NotFound.

    Staff screens take ids from the address: one of another edition must not open
    under this edition's address, so it is answered as if it did not exist.
    """
    row = db.session.get(model, ident)
    if row is None or row.edition_id != edition_id:
        raise NotFound(missing)
    return row
