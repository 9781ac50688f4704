"""Orders to transfer places from."""

from __future__ import annotations

import pytest

from conference.core.db import db
from conference.registration.services import place_order
from conference.transfers.services import Colleague
from tests.conftest import booking_details


@pytest.fixture(autouse=True)
def english(app):
    """Service messages in English, so tests read the same once they are translated."""
    from conference.core.i18n import force_locale

    with force_locale("en_GB"):
        yield


@pytest.fixture
def placed(edition):
    """An Aarhus order of two colleagues (booker hanne@aarhus.dk), committed."""
    result = place_order(edition, booking_details(edition, 2))
    db.session.commit()
    return result


def colleague(name: str = "Mads Madsen", email: str = "mads@aarhus.dk", **extra) -> Colleague:
    return Colleague(
        name=name,
        email=email,
        job_title=extra.get("job_title", "Projektleder"),
        dietary=extra.get("dietary", "Vegetar"),
    )
