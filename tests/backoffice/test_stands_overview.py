"""The organiser's stands screen: the plan, every stand and booking, and the decisions
on bookings (approve, decline, move, cancel), each through the stand services."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from conference.core.db import db
from conference.invoicing.models import Invoice
from conference.stands.models import ExhibitorPass, Stand, StandBooking
from tests.auth.helpers import log_in, make_staff
from tests.backoffice.stands_helpers import insert_booking, make_hall, power_snapshot
from tests.mail.helpers import outbox


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


@pytest.fixture
def hall(edition):
    return make_hall(edition, booking_mode="approval")


def _fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def _documents(booking) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice).where(Invoice.stand_booking_id == booking.id).order_by(Invoice.id)
        )
    )


def test_the_overview_shows_plan_stands_and_every_booking(organiser, edition, hall):
    insert_booking(
        edition, hall["A1"], company="Netic A/S", addons=power_snapshot(hall["power"], 2)
    )
    insert_booking(edition, hall["A2"], company="KMD A/S", status="requested")
    insert_booking(edition, hall["A3"], company="Declined ApS", status="declined")
    insert_booking(edition, hall["A3"], company="Cancelled ApS", status="cancelled")
    page = organiser.get(f"/staff/e/{edition.slug}/stands").get_data(as_text=True)
    assert "<svg" in page and 'data-stand="A1"' in page
    for company in ("Netic A/S", "KMD A/S", "Declined ApS", "Cancelled ApS"):
        assert company in page
    for status in ("Confirmed", "Waiting for approval", "Declined", "Cancelled"):
        assert status in page
    assert "1 request waits for a decision" in page
    assert "2 × Ekstra strøm" in page
    # 25.000 + 2 × 750 = 26.500 kr. without VAT, 33.125 kr. with.
    assert "DKK\xa026,500.00" in page and "DKK\xa033,125.00" in page
    # A free stand shows its package price.
    assert "DKK\xa035,000.00" in page  # A4, the corner package


def test_approving_a_request_books_the_stand_and_issues_the_invoice(organiser, edition, hall):
    booking = insert_booking(edition, hall["A2"], status="requested")
    response = organiser.post(f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/approve")
    assert response.status_code == 303
    booking = _fresh(StandBooking, booking.id)
    assert booking.status == "confirmed"
    assert booking.stand.status == "booked"
    invoices = _documents(booking)
    assert len(invoices) == 1 and invoices[0].kind == "invoice"
    page = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Approved: stand A2 is booked by Netic A/S." in page
    assert invoices[0].number in page


def test_approving_twice_is_a_clear_message_not_an_error(organiser, edition, hall):
    booking = insert_booking(edition, hall["A2"], status="confirmed")
    response = organiser.post(f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/approve")
    assert response.status_code == 409
    assert "Only a request can be approved" in response.get_data(as_text=True)


def test_declining_needs_confirmation_then_frees_the_stand(organiser, edition, hall):
    booking = insert_booking(edition, hall["A2"], status="requested")
    url = f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/decline"
    unconfirmed = organiser.post(url, data={"reason": "Fuldt"})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm." in unconfirmed.get_data(as_text=True)
    assert _fresh(StandBooking, booking.id).status == "requested"
    response = organiser.post(url, data={"reason": "Kun kommunale leverandører", "confirm": "y"})
    assert response.status_code == 303
    booking = _fresh(StandBooking, booking.id)
    assert booking.status == "declined"
    assert _fresh(Stand, hall["A2"].id).status == "free"
    assert outbox("stand_declined")


def test_moving_an_exhibitor_to_a_free_stand(organiser, edition, hall):
    booking = insert_booking(edition, hall["A1"])
    page = organiser.get(f"/staff/e/{edition.slug}/stands/bookings/{booking.id}").get_data(
        as_text=True
    )
    # A confirmed booking moves only to a free stand with its package (A4 has another).
    assert f'value="{hall["A3"].id}"' in page and f'value="{hall["A4"].id}"' not in page
    url = f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/move"
    assert organiser.post(url, data={"stand_id": hall["A3"].id}).status_code == 422
    response = organiser.post(url, data={"stand_id": hall["A3"].id, "confirm": "y"})
    assert response.status_code == 303
    assert _fresh(StandBooking, booking.id).stand_id == hall["A3"].id
    assert _fresh(Stand, hall["A1"].id).status == "free"
    assert _fresh(Stand, hall["A3"].id).status == "booked"
    follow = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Netic A/S moved from stand A1 to stand A3" in follow


def test_moving_to_a_stand_that_is_not_free_is_refused_at_the_field(organiser, edition, hall):
    booking = insert_booking(edition, hall["A1"])
    insert_booking(edition, hall["A2"], company="KMD A/S")
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/move",
        data={"stand_id": hall["A2"].id, "confirm": "y"},
    )
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert _fresh(StandBooking, booking.id).stand_id == hall["A1"].id


def test_cancelling_a_confirmed_booking_issues_a_credit_note(organiser, edition, hall):
    booking = insert_booking(edition, hall["A2"], status="requested", staff=())
    organiser.post(f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/approve")
    db.session.add(
        ExhibitorPass(
            booking_id=booking.id,
            edition_id=edition.id,
            name="Ida",
            email="ida@netic.dk",
            ticket_code="passcode-ida",
        )
    )
    db.session.commit()
    url = f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/cancel"
    assert organiser.post(url, data={"reason": "Aflyst"}).status_code == 422
    assert _fresh(StandBooking, booking.id).status == "confirmed"
    response = organiser.post(url, data={"reason": "Firmaet aflyser", "confirm": "y"})
    assert response.status_code == 303
    booking = _fresh(StandBooking, booking.id)
    assert booking.status == "cancelled"
    assert _fresh(Stand, hall["A2"].id).status == "free"
    assert [p.status for p in booking.passes] == ["cancelled"]
    kinds = [d.kind for d in _documents(booking)]
    assert kinds == ["invoice", "credit_note"]
    credit = _documents(booking)[1]
    page = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Credit note {credit.number} was issued" in page
    # Net of the credit note nothing is owed.
    overview = organiser.get(f"/staff/e/{edition.slug}/stands").get_data(as_text=True)
    assert credit.number in overview


def test_cancelling_twice_is_a_message(organiser, edition, hall):
    booking = insert_booking(edition, hall["A2"], status="cancelled")
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/cancel", data={"confirm": "y"}
    )
    assert response.status_code == 409
    assert "already cancelled or declined" in response.get_data(as_text=True)


def test_a_booking_of_another_edition_is_404(organiser, edition, hall):
    booking = insert_booking(edition, hall["A2"], status="requested")
    assert organiser.get(f"/staff/e/nope/stands/bookings/{booking.id}").status_code == 404


@pytest.mark.parametrize("role", ["accounting", "checkin"])
def test_other_staff_roles_are_refused(app, edition, hall, role):
    booking = insert_booking(edition, hall["A2"], status="requested")
    make_staff(f"{role}@example.dk", role)
    client = app.test_client()
    log_in(client, f"{role}@example.dk")
    slug = edition.slug
    for method, url in (
        ("GET", f"/staff/e/{slug}/stands"),
        ("GET", f"/staff/e/{slug}/stands/setup"),
        ("GET", f"/staff/e/{slug}/stands/exhibitors.csv"),
        ("GET", f"/staff/e/{slug}/stands/exhibitors.xlsx"),
        ("POST", f"/staff/e/{slug}/stands/bookings/{booking.id}/approve"),
        ("POST", f"/staff/e/{slug}/stands/stands/{hall['A4'].id}/delete"),
    ):
        response = client.open(url, method=method, data={"confirm": "y"})
        assert response.status_code == 403, url
    assert _fresh(StandBooking, booking.id).status == "requested"
    assert _fresh(Stand, hall["A4"].id) is not None


def test_anonymous_visitors_go_to_the_login_page(client, edition, hall):
    booking = insert_booking(edition, hall["A2"], status="requested")
    for method, url in (
        ("GET", f"/staff/e/{edition.slug}/stands"),
        ("GET", f"/staff/e/{edition.slug}/stands/exhibitors.csv"),
        ("POST", f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/decline"),
    ):
        response = client.open(url, method=method, data={"confirm": "y"})
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/staff/login?next=")
    assert _fresh(StandBooking, booking.id).status == "requested"


def test_the_actions_need_a_csrf_token(app, edition, hall):
    booking = insert_booking(edition, hall["A2"], status="requested")
    make_staff()
    client = app.test_client()
    log_in(client, "organiser@example.dk")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        for action in ("approve", "decline", "move", "cancel"):
            response = client.post(
                f"/staff/e/{edition.slug}/stands/bookings/{booking.id}/{action}",
                data={"confirm": "y", "stand_id": hall["A3"].id},
            )
            assert response.status_code == 400, action
        response = client.post(
            f"/staff/e/{edition.slug}/stands/stands/{hall['A4'].id}/delete", data={"confirm": "y"}
        )
        assert response.status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert _fresh(StandBooking, booking.id).status == "requested"
    assert _fresh(Stand, hall["A4"].id) is not None
