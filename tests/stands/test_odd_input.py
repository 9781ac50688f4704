"""Odd values on the exhibitor's forms: a clear message, nothing written, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conference.core.db import db
from conference.stands import services
from conference.stands.models import AddonKind, ExhibitorPass, StandBooking
from tests.stands.conftest import addon_id, booking_form_data, company_details, stand


@pytest.mark.parametrize("quantity", ["²", "¹²", "-1", "1e3", "99999", "½"])
def test_an_add_on_quantity_that_is_not_a_plain_number_is_refused(client, edition, hall, quantity):
    power = addon_id(edition, AddonKind.POWER)
    response = client.post(
        f"/e/{edition.slug}/exhibition/stands/A2",
        data=booking_form_data(**{f"addon-{power}": quantity}),
    )
    assert response.status_code == 422
    assert "Vælg et tal fra 0 til 2." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(StandBooking)) == 0


def test_a_pass_version_that_is_not_a_plain_number_is_not_a_500(client, edition, hall):
    booked = services.book_stand(edition, stand(edition, "A1"), company_details())
    exhibitor_pass = services.name_staff(
        booked.booking, services.StaffDetails(name="Søren Ærø", email="soren@example.dk")
    )
    db.session.commit()
    prefix = f"pass-{exhibitor_pass.id}"
    response = client.post(
        f"/s/{booked.token}/staff/{exhibitor_pass.id}",
        data={
            f"{prefix}-name": "Mette Holm",
            f"{prefix}-email": "mette@example.dk",
            f"{prefix}-version": "²",
        },
    )
    assert response.status_code in (303, 409)
    db.session.expire_all()
    assert db.session.get(ExhibitorPass, exhibitor_pass.id) is not None
