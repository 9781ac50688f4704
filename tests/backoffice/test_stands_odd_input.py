"""Odd values on the organiser's stand forms: a message at the field, nothing saved, no 500."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from conference.core.db import db
from conference.stands.models import Stand, StandHall
from tests.auth.helpers import log_in, make_staff
from tests.backoffice.stands_helpers import make_hall


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


@pytest.mark.parametrize("metres", ["1e30", "1e400", "9" * 40, "-0,5", "3 m 2", "∞"])
def test_a_stand_size_that_is_no_length_is_refused_at_the_field(organiser, edition, metres):
    hall = make_hall(edition)
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/stands/new",
        data={
            "code": "B7",
            "x": "2",
            "y": "12",
            "width": metres,
            "depth": "2,5",
            "package_id": str(hall["standard"].id),
        },
    )
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.scalar(select(Stand).where(Stand.code == "B7")) is None


@pytest.mark.parametrize("metres", ["1e30", "1E+50"])
def test_a_hall_size_that_is_no_length_is_refused(organiser, edition, metres):
    make_hall(edition)
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/hall",
        data={
            "width": metres,
            "depth": "20",
            "booking_mode": "binding",
            "terms": "Bindende.",
        },
    )
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.scalar(select(StandHall)).width_cm == 3000


def test_the_dashboard_says_how_the_exhibition_is_selling(organiser, edition):
    from tests.backoffice.stands_helpers import insert_booking

    hall = make_hall(edition)
    insert_booking(edition, hall["A1"])
    html = organiser.get(f"/staff/e/{edition.slug}?lang=en").get_data(as_text=True)
    panel = html[html.index('id="dashboard-stands"') :]
    assert "1 of 4 stands booked" in panel
    assert "3 stands free" in panel and "bookings are open" in panel
    assert f'href="/staff/e/{edition.slug}/stands"' in panel
