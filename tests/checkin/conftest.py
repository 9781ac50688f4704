"""Places to check in."""

from __future__ import annotations

import pytest

from conference.core.db import db
from conference.registration.services import place_order
from tests.conftest import booking_details


@pytest.fixture
def placed(edition):
    """An Aarhus order of two colleagues, committed."""
    result = place_order(edition, booking_details(edition, 2))
    db.session.commit()
    return result
