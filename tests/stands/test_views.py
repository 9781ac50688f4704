"""The public exhibition pages: plan and list, booking form, taken stand, exhibitor list."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from conference.core.db import db
from conference.stands import services
from conference.stands.models import AddonKind, StandBooking, StandStatus
from tests.mail.helpers import outbox
from tests.stands.conftest import addon_id, booking_form_data, company_details, stand


def _post_booking(client, edition, code: str, **overrides):
    """Post the booking form (CSRF is off in testing; test_csrf covers every route)."""
    return client.post(
        f"/e/{edition.slug}/exhibition/stands/{code}", data=booking_form_data(**overrides)
    )


def test_exhibition_page_draws_the_plan_and_lists_every_stand(client, edition, hall):
    services.book_stand(edition, stand(edition, "A1"), company_details(1))
    db.session.commit()
    html = client.get(f"/e/{edition.slug}/exhibition?lang=en").get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>")]
    # Five stands on the plan, each with its code and its status in words as well as colour.
    assert svg.count('class="plan-stand') == 5
    assert re.search(r'data-stand="A1" data-status="booked"', svg)
    assert ">Booked<" in svg and ">Free<" in svg and "#fdecea" in svg
    # A free stand on the plan is a link to its booking form; a booked one is not.
    assert f'href="/e/{edition.slug}/exhibition/stands/A2"' in svg
    assert f'href="/e/{edition.slug}/exhibition/stands/A1"' not in html
    # The list: size, package, price without and with VAT, status, the company on a booked one.
    table = html[html.index('<table class="stand-table"') :]
    assert table.count(" data-stand=") == 5
    assert "9 m²" in table and "Standard package" in table
    assert "DKK\xa012,000.00" in table and "DKK\xa015,000.00" in table
    assert "Kommunedata 1 A/S" in table
    assert "Book stand A2" in table


def test_exhibition_page_in_danish(client, edition, hall):
    html = client.get(f"/e/{edition.slug}/exhibition").get_data(as_text=True)
    assert "Udstilling" in html and "Plantegning" in html and ">Ledig<" in html
    assert "12.000,00\xa0kr." in html and "15.000,00\xa0kr." in html
    assert "Standardpakke" in html


def test_event_page_links_to_the_exhibition(client, edition, hall):
    html = client.get(f"/e/{edition.slug}").get_data(as_text=True)
    assert f'href="/e/{edition.slug}/exhibition"' in html


def test_event_page_without_a_hall_has_no_link(client, edition):
    html = client.get(f"/e/{edition.slug}").get_data(as_text=True)
    assert "/exhibition" not in html
    assert client.get(f"/e/{edition.slug}/exhibition").status_code == 404


def test_booking_form_shows_package_add_ons_terms_and_prices(client, edition, hall):
    html = client.get(f"/e/{edition.slug}/exhibition/stands/A2?lang=en").get_data(as_text=True)
    assert "Book stand A2" in html
    assert "Power 230 V" in html and "A table and two chairs" in html
    assert "Extra exhibitor pass" in html and "DKK\xa01,500.00" in html
    assert "The stand must be staffed all day." in html
    assert 'name="terms_accepted"' in html and "I accept the exhibitor terms" in html
    assert "DKK\xa012,000.00" in html and "DKK\xa015,000.00" in html


def test_booking_through_the_form_confirms_and_redirects_to_the_manage_page(client, edition, hall):
    power = addon_id(edition, AddonKind.POWER)
    response = _post_booking(client, edition, "A2", **{f"addon-{power}": "1"})
    assert response.status_code == 303
    assert re.match(r"^/s/[A-Za-z0-9_-]+\?new=1$", response.location)
    page = client.get(response.location).get_data(as_text=True)
    assert "Stand A2 er booket" in page
    booking = db.session.scalar(select(StandBooking))
    assert booking.stand.status == StandStatus.BOOKED
    assert [a["quantity"] for a in booking.addons] == [1]
    assert len(outbox("stand_confirmation")) == 1


def test_form_errors_are_shown_next_to_the_fields_and_nothing_is_written(client, edition, hall):
    power = addon_id(edition, AddonKind.POWER)
    response = _post_booking(
        client,
        edition,
        "A2",
        cvr="12345678",
        contact_email="not-an-address",
        postcode="12",
        terms_accepted=None,
        **{f"addon-{power}": "9"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="error-summary"' in html
    assert "Det er ikke et gyldigt CVR-nummer (8 cifre)." in html
    assert "Skriv en gyldig e-mailadresse." in html or "gyldig e-mail" in html
    assert "Et dansk postnummer har 4 cifre." in html
    assert "Vælg et tal fra 0 til 2." in html
    assert "Du skal acceptere udstillerbetingelserne" in html
    assert 'id="cvr" name="cvr" value="12345678"' in html  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(StandBooking)) == 0
    assert stand(edition, "A2").status == StandStatus.FREE


def test_a_stand_taken_meanwhile_is_a_clear_message_with_the_free_stands(client, edition, hall):
    assert client.get(f"/e/{edition.slug}/exhibition/stands/A2").status_code == 200
    # Another company books A2 while this one fills in the form.
    services.book_stand(edition, stand(edition, "A2"), company_details(9))
    db.session.commit()
    response = client.post(
        f"/e/{edition.slug}/exhibition/stands/A2?lang=en", data=booking_form_data()
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="stand-taken"' in html and "Stand A2 is taken" in html
    assert "4 stands are still free" in html
    for code in ("A1", "A3", "A4", "A5"):
        assert f"/exhibition/stands/{code}" in html
    assert db.session.scalar(select(func.count()).select_from(StandBooking)) == 1


def test_approval_mode_form_sends_a_request(client, edition, approval_hall):
    response = _post_booking(client, edition, "A3")
    assert response.status_code == 303
    html = client.get(response.location + "&lang=en").get_data(as_text=True)
    assert "Your request for stand A3 has been received" in html
    assert stand(edition, "A3").status == StandStatus.RESERVED
    plan = client.get(f"/e/{edition.slug}/exhibition?lang=en").get_data(as_text=True)
    assert 'data-stand="A3" data-status="reserved"' in plan and ">Reserved<" in plan


def test_closed_bookings_show_no_booking_links(client, edition, hall):
    hall.bookings_open = False
    db.session.commit()
    html = client.get(f"/e/{edition.slug}/exhibition").get_data(as_text=True)
    assert 'id="bookings-closed"' in html and "/exhibition/stands/" not in html
    response = _post_booking(client, edition, "A1")
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(StandBooking)) == 0


def test_unknown_stand_and_a_missing_csrf_token_are_refused(app, client, edition, hall):
    assert client.get(f"/e/{edition.slug}/exhibition/stands/Z9").status_code == 404
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(f"/e/{edition.slug}/exhibition/stands/A1", data=booking_form_data())
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(StandBooking)) == 0


def test_names_typed_by_companies_are_escaped(client, edition, hall):
    services.book_stand(
        edition, stand(edition, "A1"), company_details(company="<script>alert(1)</script> ApS")
    )
    db.session.commit()
    for path in ("exhibition", "exhibitors"):
        html = client.get(f"/e/{edition.slug}/{path}").get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; ApS" in html


def test_background_image_is_served_with_its_type(client, edition, hall):
    from tests.stands.test_manage import png_bytes

    assert client.get(f"/e/{edition.slug}/exhibition/background").status_code == 404
    hall.background = png_bytes()
    hall.background_type = "image/png"
    db.session.commit()
    html = client.get(f"/e/{edition.slug}/exhibition").get_data(as_text=True)
    assert f'<image href="/e/{edition.slug}/exhibition/background"' in html
    response = client.get(f"/e/{edition.slug}/exhibition/background")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
