"""Fixtures shared by the whole suite.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL
is set. The schema always comes from the migrations, so they are tested too.
Between tests every table is emptied; nothing is mocked.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from conference import create_app
from conference.core.db import db, utcnow

IS_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")

postgres_only = pytest.mark.skipif(not IS_POSTGRES, reason="needs PostgreSQL (TEST_DATABASE_URL)")


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_root / 'test.db'}"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if IS_POSTGRES and worker:
        # Each pytest-xdist worker empties and migrates a database of its own.
        return _own_postgres_database(url, worker)
    return url


def _own_postgres_database(url: str, worker: str) -> str:
    """The database ``<name>_<worker>`` next to TEST_DATABASE_URL's, created if missing."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    server = base.set(drivername="postgresql", database="postgres")
    conninfo = server.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if exists is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url():
    with tempfile.TemporaryDirectory(prefix="conference-test-") as tmp:
        yield _database_url(Path(tmp))


@pytest.fixture(scope="session")
def _migrated(database_url):
    """Build the schema once per run, from the migrations, on a clean database."""
    from flask_migrate import downgrade, upgrade

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        if IS_POSTGRES:
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade()
        yield
        db.session.remove()
        if not IS_POSTGRES:
            # Rebuilding a table on SQLite (batch mode) fails while rows point to it.
            _empty_all_tables()
            downgrade(revision="base")
        db.engine.dispose()


def _empty_all_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if IS_POSTGRES:
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        # stand and stand_booking point at each other: check the keys at commit,
        # when both are empty.
        db.session.execute(text("PRAGMA defer_foreign_keys = ON"))
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


@pytest.fixture
def app(database_url, _migrated):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        _empty_all_tables()
        yield app
        db.session.remove()
        # Close this test's pooled connections now, not whenever the app is
        # collected: PostgreSQL allows 100 connections for both test workers.
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def rate_limited_app(database_url: str, **limits):
    """The app on the test database with rate limits on, e.g.
    ``rate_limited_app(url, LOGIN_RATE_LIMIT="3 per minute")``."""
    return create_app(
        "testing",
        {"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": True, **limits},
    )


@pytest.fixture
def edition(app):
    """An open edition like the real one: 600 places at 2.575,00 kr. + moms."""
    from conference.events.commands import create_demo_edition

    edition = create_demo_edition(utcnow().year + 1, capacity=600, slug="traef")
    edition.registration_opens_at = utcnow() - timedelta(days=1)
    edition.registration_closes_at = utcnow() + timedelta(days=30)
    db.session.commit()
    return edition


@pytest.fixture
def small_edition(edition):
    """The same edition with only 5 places, to fill it quickly."""
    edition.quotas[0].capacity = 5
    db.session.commit()
    return edition


def booking_form(edition, count: int = 1, **overrides) -> dict:
    """Form data for a municipal booker registering ``count`` colleagues."""
    data = {
        "ticket_type_id": str(edition.ticket_types[0].id),
        "booker_name": "Hanne Jensen",
        "booker_email": "hanne@aarhus.dk",
        "booker_phone": "+45 87 05 00 00",
        "organisation": "Aarhus Kommune",
        "organisation_type": "municipality",
        "invoice_organisation": "Aarhus Kommune, Digitalisering",
        "invoice_address": "Rådhuspladsen 2",
        "invoice_postcode": "8000",
        "invoice_city": "Aarhus C",
        "cvr": "55133018",
        "ean": "5798000000001",
        "personreference": "HJ-4711",
        "buyer_order_number": "PO-2026-17",
        "accounting_cost": "1234-5678-90",
        "attendee_count": str(count),
    }
    for index in range(count):
        data[f"attendees-{index}-name"] = f"Kollega {index + 1}"
        data[f"attendees-{index}-email"] = f"kollega{index + 1}@aarhus.dk"
        data[f"attendees-{index}-job_title"] = "Digitaliseringskonsulent"
        data[f"attendees-{index}-dietary"] = ""
    data.update(overrides)
    return data


def booking_details(edition, count: int = 1, **overrides):
    """The same booking as the service's plain-value BookingDetails."""
    from conference.registration.services import AttendeeDetails, BookingDetails

    form = booking_form(edition, count)
    fields = {
        key: value
        for key, value in form.items()
        if not key.startswith("attendees-") and key != "attendee_count"
    }
    fields["ticket_type_id"] = int(fields["ticket_type_id"])
    fields["attendees"] = [
        AttendeeDetails(
            name=form[f"attendees-{i}-name"],
            email=form[f"attendees-{i}-email"],
            job_title=form[f"attendees-{i}-job_title"],
        )
        for i in range(count)
    ]
    fields.update(overrides)
    return BookingDetails(**fields)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)
