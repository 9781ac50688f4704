"""The audit log screen: every change with who, when, what and before/after,
searchable, paged newest first, and exported as formula-safe CSV. Organisers only."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from conference.core.db import db, utcnow
from conference.core.models import AuditEvent
from conference.core.services import audit_change, record_audit
from conference.events.services import copenhagen_date
from tests.auth.helpers import log_in, make_named_staff


@pytest.fixture
def anna(app):
    return make_named_staff("anna@example.dk", "organiser", "Anna Arrangør")


@pytest.fixture
def organiser(app, anna):
    client = app.test_client()
    log_in(client, "anna@example.dk")
    return client


def _event(
    actor="system", action="thing.done", object_type="thing", object_id=1, when=None, **data
):
    event = record_audit(actor, action, object_type, object_id, **data)
    if when is not None:
        event.created_at = when
    db.session.commit()
    return event


def test_audit_change_keeps_only_what_changed():
    assert audit_change({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {
        "before": {"b": 2},
        "after": {"b": 3},
    }
    assert audit_change({}, {"role": "checkin"}) == {"before": {}, "after": {"role": "checkin"}}


def test_a_capacity_change_shows_who_and_before_and_after(organiser, edition):
    response = organiser.post(f"/staff/e/{edition.slug}/capacity", data={"capacity": "650"})
    assert response.status_code == 302
    html = organiser.get("/staff/audit?lang=en").get_data(as_text=True)
    assert "<code>capacity.changed</code>" in html
    assert "Anna Arrangør" in html and "anna@example.dk" in html
    assert '<th scope="row">capacity</th>' in html
    assert "600</del>" in html and "650</ins>" in html


def test_a_staff_role_change_is_shown_as_a_diff(organiser):
    bo = make_named_staff("bo@example.dk", "checkin", "Bo")
    organiser.post(f"/staff/users/{bo.id}/role", data={"role": "accounting"})
    html = organiser.get("/staff/audit?action=staff.role_changed").get_data(as_text=True)
    assert "checkin</del>" in html and "accounting</ins>" in html
    assert f"#{bo.id}</a>" in html


def test_actors_that_are_not_staff_are_named(organiser):
    _event("attendee", "transfer.requested")
    _event("booker", "order.placed")
    _event("system", "offer.expired")
    html = organiser.get("/staff/audit?lang=en").get_data(as_text=True)
    for name in ("Attendee", "Booker", "System"):
        assert f"<td>{name}</td>" in html


def test_search_by_text_actor_action_object_and_dates(app, organiser, anna):
    now = utcnow()
    _event("system", "offer.expired", "waiting_list_entry", 7, when=now - timedelta(days=10))
    _event(
        anna.actor, "stand.moved", "stand_booking", 42, when=now - timedelta(days=2), note="hal B"
    )
    _event("booker", "order.placed", "order", 42, when=now - timedelta(hours=1))

    def actions(**query) -> list[str]:
        from conference.audit.services import AuditSearch, search_audit

        return [entry.event.action for entry in search_audit(AuditSearch(**query)).entries]

    assert actions(text="hal b") == ["stand.moved"]
    _event("system", "hall.renamed", "stand_hall", 1, name="Ærøhallen")
    assert actions(text="ærø") == ["hall.renamed"]
    assert actions(text="ÆRØHALLEN") == ["hall.renamed"]
    assert "stand.moved" in actions(text="Arrangør")  # the staff user's name
    assert actions(actor="booker") == ["order.placed"]
    assert actions(action="offer.expired") == ["offer.expired"]
    assert actions(object_type="stand_booking", object_id=42) == ["stand.moved"]
    assert actions(object_id=42) == ["order.placed", "stand.moved"]  # newest first
    # The dates are Copenhagen's, as the organiser typing them means them.
    day = copenhagen_date(now - timedelta(days=2))
    assert actions(date_from=day, date_to=day) == ["stand.moved"]
    assert actions(date_to=copenhagen_date(now - timedelta(days=5))) == ["offer.expired"]
    # The same through the screen's query string.
    html = organiser.get(
        f"/staff/audit?q=hal&actor={anna.actor}&object_type=stand_booking&object_id=42"
    ).get_data(as_text=True)
    assert "<code>stand.moved</code>" in html
    assert "<code>order.placed</code>" not in html and "<code>offer.expired</code>" not in html


def test_bad_search_input_is_shown_and_not_a_500(organiser):
    response = organiser.get(
        "/staff/audit?lang=en&object_id=abc&date_from=2026-05-01&date_to=2026-04-01"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "The end date is before the start date." in html
    assert 'id="object_id-error"' in html
    assert organiser.get("/staff/audit?date_from=not-a-date&page=-3").status_code == 200


def test_the_log_is_paged_newest_first(organiser):
    start = datetime(2026, 3, 1, 8, 0)
    for number in range(60):
        _event("system", f"step.{number:02d}", when=start + timedelta(minutes=number))
    first = organiser.get("/staff/audit?lang=en&action=&q=step").get_data(as_text=True)
    assert "<code>step.59</code>" in first and "<code>step.10</code>" in first
    assert "<code>step.09</code>" not in first
    assert first.index("<code>step.59</code>") < first.index("<code>step.58</code>")
    assert "Page 1 of 2" in first
    second = organiser.get("/staff/audit?q=step&page=2").get_data(as_text=True)
    assert "<code>step.09</code>" in second and "<code>step.00</code>" in second
    assert "<code>step.10</code>" not in second


def test_html_in_audit_data_is_escaped(organiser):
    _event(
        "system",
        "thing.changed",
        **audit_change({"name": "<b>x</b>"}, {"name": "<script>alert(1)</script>"}),
    )
    html = organiser.get("/staff/audit").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_csv_export_has_the_search_and_is_formula_safe(organiser, app):
    evil = make_named_staff("evil@example.dk", "checkin", '=HYPERLINK("http://x")')
    _event(
        evil.actor,
        "thing.changed",
        "thing",
        3,
        **audit_change({"note": "+1"}, {"note": "@SUM(A1)"}),
    )
    _event("system", "other.thing")
    response = organiser.get(f"/staff/audit.csv?lang=en&actor={evil.actor}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:4] == ["Time", "Actor", "Actor's e-mail", "Action"]
    assert len(rows) == 2
    row = rows[1]
    assert row[1] == '\'=HYPERLINK("http://x")'
    assert row[3] == "thing.changed"
    assert row[6] == "note: +1"
    assert row[7] == "note: @SUM(A1)"
    for cell in row:
        assert not cell.startswith(("=", "+", "-", "@"))


def test_only_organisers_see_the_audit_log(app, client):
    assert client.get("/staff/audit").status_code == 302
    for role in ("accounting", "checkin"):
        make_named_staff(f"{role}@example.dk", role)
        other = app.test_client()
        log_in(other, f"{role}@example.dk")
        assert other.get("/staff/audit").status_code == 403
        assert other.get("/staff/audit.csv").status_code == 403


def test_the_audit_screen_is_not_written_to_by_reading(organiser):
    before = db.session.query(AuditEvent).count()
    organiser.get("/staff/audit")
    organiser.get("/staff/audit.csv")
    db.session.rollback()
    assert db.session.query(AuditEvent).count() == before
