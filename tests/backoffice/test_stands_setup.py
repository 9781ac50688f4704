"""The organiser sets up the exhibition hall: the hall, packages, add-ons and stands."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select, update

from conference.backoffice import services
from conference.core.db import db
from conference.core.models import AuditEvent
from conference.stands.models import Stand, StandAddon, StandHall, StandPackage
from tests.auth.helpers import log_in, make_staff
from tests.backoffice.stands_helpers import insert_booking, make_hall


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


def _png(width: int = 60, height: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "#88aadd").save(buffer, "PNG")
    return buffer.getvalue()


def _hall_form(**overrides) -> dict:
    data = {
        "name": "Hal C",
        "width": "32,5",
        "depth": "20",
        "booking_mode": "approval",
        "terms": "Bookingen er bindende.",
        "terms_en": "The booking is binding.",
        "staff_deadline": "2027-04-20T12:00",
        "bookings_open": "y",
    }
    data.update(overrides)
    return data


def _hall(edition) -> StandHall | None:
    db.session.expire_all()
    return db.session.scalar(select(StandHall).where(StandHall.edition_id == edition.id))


def test_the_setup_page_is_reached_from_the_navigation(organiser, edition):
    dashboard = organiser.get(f"/staff/e/{edition.slug}").get_data(as_text=True)
    assert f'href="/staff/e/{edition.slug}/stands"' in dashboard
    page = organiser.get(f"/staff/e/{edition.slug}/stands/setup")
    assert page.status_code == 200
    assert "The hall has not been set up yet" in page.get_data(as_text=True)


def test_saving_the_hall_in_metres_and_copenhagen_time(organiser, edition):
    response = organiser.post(f"/staff/e/{edition.slug}/stands/hall", data=_hall_form())
    assert response.status_code == 303
    hall = _hall(edition)
    assert (hall.width_cm, hall.depth_cm) == (3250, 2000)
    assert hall.booking_mode == "approval"
    assert hall.terms_en == "The booking is binding."
    # 12:00 in Copenhagen in April (summer time) is 10:00 UTC.
    assert hall.staff_deadline.isoformat() == "2027-04-20T10:00:00"
    assert hall.bookings_open is True
    page = organiser.get(f"/staff/e/{edition.slug}/stands/setup").get_data(as_text=True)
    assert 'value="32.5"' in page  # English page: a decimal point
    assert 'value="2027-04-20T12:00"' in page
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stand_hall.created"))


def test_closing_bookings_is_an_unticked_box(organiser, edition):
    data = _hall_form()
    del data["bookings_open"]
    organiser.post(f"/staff/e/{edition.slug}/stands/hall", data=data)
    assert _hall(edition).bookings_open is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"width": "tre"}, "Enter metres, like 3 or 2,5."),
        ({"width": "0"}, "Enter a size from 0,01 to 500 metres."),
        ({"depth": ""}, "This field is required."),
        ({"terms": ""}, "Enter the exhibitor terms in Danish."),
        ({"booking_mode": "lottery"}, "Not a valid choice"),
        ({"staff_deadline": "20/4 kl. 12"}, "Not a valid datetime value"),
    ],
)
def test_bad_hall_input_is_shown_at_the_field_and_saves_nothing(
    organiser, edition, overrides, message
):
    response = organiser.post(f"/staff/e/{edition.slug}/stands/hall", data=_hall_form(**overrides))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _hall(edition) is None


def test_the_hall_cannot_shrink_under_its_stands(organiser, edition):
    make_hall(edition)  # stands reach 16 m to the right
    response = organiser.post(f"/staff/e/{edition.slug}/stands/hall", data=_hall_form(width="15"))
    assert response.status_code == 422
    assert "Stand A4 would lie outside the hall" in response.get_data(as_text=True)
    assert _hall(edition).width_cm == 3000


def test_a_png_background_is_checked_stored_and_shown(organiser, edition):
    data = _hall_form(background=(io.BytesIO(_png()), "plan.png"))
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/hall", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 303
    hall = _hall(edition)
    assert hall.background_type == "image/png"
    picture = organiser.get(f"/staff/e/{edition.slug}/stands/background")
    assert picture.status_code == 200 and picture.data == _png()
    assert picture.headers["Content-Type"] == "image/png"
    assert picture.headers["X-Content-Type-Options"] == "nosniff"
    # Removing it
    organiser.post(f"/staff/e/{edition.slug}/stands/hall", data=_hall_form(remove_background="y"))
    assert _hall(edition).background is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "The file is not a PNG or JPEG picture."),
        (_png()[:60], "The file is not a PNG or JPEG picture."),
        (b"GIF89a" + b"\x00" * 40, "The file is not a PNG or JPEG picture."),
        (b"\x89PNG" + b"\x00" * (2 * 1024 * 1024), "The picture is too large: at most 2 MB."),
    ],
    ids=["svg", "truncated-png", "gif", "too-large"],
)
def test_a_background_that_is_not_an_acceptable_picture_is_refused(
    organiser, edition, content, message
):
    data = _hall_form(background=(io.BytesIO(content), "plan.png"))
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/hall", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _hall(edition) is None  # the hall settings were not saved either


def test_a_gif_with_a_png_name_is_refused(organiser, edition):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    data = _hall_form(background=(io.BytesIO(buffer.getvalue()), "plan.png"))
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/hall", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "The file is not a PNG or JPEG picture." in response.get_data(as_text=True)


# --- packages ---------------------------------------------------------------------


def _package_form(**overrides) -> dict:
    data = {
        "name": "Standardpakke",
        "name_en": "Standard package",
        "price": "25.000,00",
        "included_passes": "2",
        "includes": "Strøm 230 V\nBord og to stole",
        "includes_en": "Power 230 V\nA table and two chairs",
    }
    data.update(overrides)
    return data


def test_creating_and_changing_a_package_with_a_danish_price(organiser, edition):
    response = organiser.post(f"/staff/e/{edition.slug}/stands/packages/new", data=_package_form())
    assert response.status_code == 303
    package = db.session.scalar(select(StandPackage))
    assert package.price_net_ore == 2_500_000
    assert package.included_items("en") == ["Power 230 V", "A table and two chairs"]
    page = organiser.get(f"/staff/e/{edition.slug}/stands/packages/{package.id}")
    assert 'value="25.000,00"' in page.get_data(as_text=True)
    organiser.post(
        f"/staff/e/{edition.slug}/stands/packages/{package.id}",
        data=_package_form(price="27.500,50", name="Standard"),
    )
    db.session.expire_all()
    assert (package.name, package.price_net_ore) == ("Standard", 2_750_050)
    setup = organiser.get(f"/staff/e/{edition.slug}/stands/setup").get_data(as_text=True)
    assert "DKK\xa027,500.50" in setup and "DKK\xa034,375.63" in setup  # incl. 25 % VAT


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"price": "25 tusind"}, "Enter an amount in kroner, like 25.000,00."),
        ({"price": ""}, "Enter the price without VAT."),
        ({"price": "25.000,001"}, "Enter an amount in kroner, like 25.000,00."),
        ({"name": ""}, "This field is required."),
        ({"included_passes": "-1"}, "Enter a number from 0 to 50."),
        ({"included_passes": "to"}, "Not a valid integer value."),
    ],
)
def test_bad_package_input_is_refused(organiser, edition, overrides, message):
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/packages/new", data=_package_form(**overrides)
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(StandPackage)) is None


def test_a_package_in_use_is_not_deleted(organiser, edition):
    hall = make_hall(edition)
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/packages/{hall['standard'].id}/delete",
        data={"confirm": "y"},
    )
    assert response.status_code == 409
    assert "stands A1, A2, A3 have it" in response.get_data(as_text=True)
    assert db.session.get(StandPackage, hall["standard"].id) is not None


def test_deleting_an_unused_package_needs_the_box_ticked(organiser, edition):
    organiser.post(f"/staff/e/{edition.slug}/stands/packages/new", data=_package_form())
    package = db.session.scalar(select(StandPackage))
    url = f"/staff/e/{edition.slug}/stands/packages/{package.id}/delete"
    unconfirmed = organiser.post(url, data={})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm." in unconfirmed.get_data(as_text=True)
    assert organiser.post(url, data={"confirm": "y"}).status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(StandPackage)) is None


# --- add-ons ----------------------------------------------------------------------


def _addon_form(**overrides) -> dict:
    data = {
        "kind": "power",
        "name": "Ekstra strøm",
        "name_en": "Extra power",
        "price": "750",
        "max_quantity": "3",
        "is_active": "y",
    }
    data.update(overrides)
    return data


def test_creating_an_addon_and_switching_it_off(organiser, edition):
    assert (
        organiser.post(f"/staff/e/{edition.slug}/stands/addons/new", data=_addon_form()).status_code
        == 303
    )
    addon = db.session.scalar(select(StandAddon))
    assert (addon.kind, addon.price_net_ore, addon.max_quantity, addon.is_active) == (
        "power",
        75_000,
        3,
        True,
    )
    data = _addon_form()
    del data["is_active"]
    organiser.post(f"/staff/e/{edition.slug}/stands/addons/{addon.id}", data=data)
    db.session.expire_all()
    assert addon.is_active is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "champagne"}, "Not a valid choice"),
        ({"max_quantity": "0"}, "Enter a number from 1 to 100."),
        ({"price": "-5"}, "Enter an amount in kroner, like 25.000,00."),
    ],
)
def test_bad_addon_input_is_refused(organiser, edition, overrides, message):
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/addons/new", data=_addon_form(**overrides)
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(StandAddon)) is None


def test_an_ordered_addon_is_not_deleted(organiser, edition):
    from tests.backoffice.stands_helpers import power_snapshot

    hall = make_hall(edition)
    insert_booking(edition, hall["A1"], addons=power_snapshot(hall["power"]))
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/addons/{hall['power'].id}/delete", data={"confirm": "y"}
    )
    assert response.status_code == 409
    assert "The add-on has been ordered" in response.get_data(as_text=True)
    assert db.session.get(StandAddon, hall["power"].id) is not None
    # One nobody ordered goes.
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/addons/{hall['extra_pass'].id}/delete",
        data={"confirm": "y"},
    )
    assert response.status_code == 303


# --- stands -----------------------------------------------------------------------


def _stand_form(package, **overrides) -> dict:
    data = {
        "code": "b7",
        "x": "2",
        "y": "12,5",
        "width": "3",
        "depth": "2,5",
        "package_id": str(package.id),
        "note": "Ved indgangen",
    }
    data.update(overrides)
    return data


def _stand(code: str) -> Stand | None:
    db.session.expire_all()
    return db.session.scalar(select(Stand).where(Stand.code == code))


def test_creating_a_stand_in_metres(organiser, edition):
    hall = make_hall(edition)
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/stands/new", data=_stand_form(hall["corner"])
    )
    assert response.status_code == 303
    stand = _stand("B7")  # codes are kept in capitals
    assert (stand.x_cm, stand.y_cm, stand.width_cm, stand.depth_cm) == (200, 1250, 300, 250)
    assert stand.package_id == hall["corner"].id and stand.status == "free"
    assert stand.area_m2 == 7.5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code": "A1"}, "There is already a stand A1."),
        ({"code": ""}, "This field is required."),
        ({"code": "A 1"}, "Use at most 20 letters, digits, dots or hyphens, like A12."),
        ({"width": "0"}, "Enter a width above 0."),
        ({"x": "28,5"}, "The stand reaches past the hall&#39;s width (30 m)."),
        ({"y": "18"}, "The stand reaches past the hall&#39;s depth (20 m)."),
        ({"x": "2", "y": "1,5"}, "The stand would overlap stand A1."),
        ({"depth": "2,555"}, "Enter metres, like 3 or 2,5."),
        ({"package_id": "999"}, "Not a valid choice"),
    ],
)
def test_bad_stand_input_is_refused(organiser, edition, overrides, message):
    hall = make_hall(edition)
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/stands/new",
        data=_stand_form(hall["standard"], **overrides),
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _stand("B7") is None
    assert len(db.session.scalars(select(Stand)).all()) == 4


def test_a_booked_stand_keeps_its_package_and_size_but_can_move(organiser, edition):
    hall = make_hall(edition)
    insert_booking(edition, hall["A2"])
    url = f"/staff/e/{edition.slug}/stands/stands/{hall['A2'].id}"
    base = _stand_form(hall["standard"], code="A2", x="5", y="1", width="3", depth="3")
    for change in ({"package_id": str(hall["corner"].id)}, {"width": "4"}, {"code": "A22"}):
        response = organiser.post(url, data={**base, **change})
        assert response.status_code == 422
        assert "Stand A2 has been booked, so its code, package and size stay" in response.get_data(
            as_text=True
        )
    stand = _stand("A2")
    assert (stand.package_id, stand.width_cm) == (hall["standard"].id, 300)
    # Moving it on the plan is fine.
    assert organiser.post(url, data={**base, "y": "6"}).status_code == 303
    stand = _stand("A2")
    assert (stand.y_cm, stand.status, stand.booking_id is not None) == (600, "booked", True)


def test_a_free_stand_can_change_package_and_size(organiser, edition):
    hall = make_hall(edition)
    url = f"/staff/e/{edition.slug}/stands/stands/{hall['A3'].id}"
    data = _stand_form(hall["corner"], code="A3", x="9", y="1", width="3,5", depth="3")
    assert organiser.post(url, data=data).status_code == 303
    stand = _stand("A3")
    assert (stand.package_id, stand.width_cm) == (hall["corner"].id, 350)


def test_a_booked_stand_is_not_deleted(organiser, edition):
    hall = make_hall(edition)
    insert_booking(edition, hall["A1"])
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/stands/{hall['A1'].id}/delete", data={"confirm": "y"}
    )
    assert response.status_code == 409
    assert "Stand A1 has been booked, so it cannot be deleted" in response.get_data(as_text=True)
    assert _stand("A1") is not None


def test_a_stand_once_booked_and_cancelled_is_still_not_deleted(organiser, edition):
    hall = make_hall(edition)
    insert_booking(edition, hall["A3"], status="cancelled")
    response = organiser.post(
        f"/staff/e/{edition.slug}/stands/stands/{hall['A3'].id}/delete", data={"confirm": "y"}
    )
    assert response.status_code == 409
    assert _stand("A3") is not None


def test_a_never_booked_stand_is_deleted_after_confirming(organiser, edition):
    hall = make_hall(edition)
    url = f"/staff/e/{edition.slug}/stands/stands/{hall['A4'].id}/delete"
    assert organiser.post(url, data={}).status_code == 422
    assert _stand("A4") is not None
    assert organiser.post(url, data={"confirm": "y"}).status_code == 303
    assert _stand("A4") is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stand.deleted"))


def test_unknown_or_other_editions_items_are_404(organiser, edition):
    make_hall(edition)
    for url in (
        f"/staff/e/{edition.slug}/stands/packages/999",
        f"/staff/e/{edition.slug}/stands/addons/999",
        f"/staff/e/{edition.slug}/stands/stands/999",
        f"/staff/e/{edition.slug}/stands/bookings/999",
        f"/staff/e/{edition.slug}/stands/background",
    ):
        assert organiser.get(url).status_code == 404, url


# --- a booking landing while the organiser edits ------------------------------------


def _taken_behind_our_back(stand: Stand) -> None:
    """What a booking committing between the organiser's read and write leaves: the
    stand's row is no longer free, while the organiser's copy still says it is."""
    db.session.execute(
        update(Stand)
        .where(Stand.id == stand.id)
        .values(status="reserved")
        .execution_options(synchronize_session=False)
    )


def test_a_size_change_loses_to_a_booking_that_landed_first(edition):
    hall = make_hall(edition)
    stand = hall["A3"]
    assert stand.status == "free"
    _taken_behind_our_back(stand)
    details = services.StandDetails(
        code="A3", x_cm=900, y_cm=100, width_cm=400, depth_cm=300, package_id=stand.package_id
    )
    with pytest.raises(services.StandInUse, match="Stand A3 er booket"):
        services.save_stand(edition, details, actor="test", stand=stand)
    db.session.rollback()
    assert _stand("A3").width_cm == 300


def test_a_delete_loses_to_a_booking_that_landed_first(edition):
    hall = make_hall(edition)
    stand = hall["A4"]
    _taken_behind_our_back(stand)
    with pytest.raises(services.StandInUse, match="blev booket for et øjeblik siden"):
        services.delete_stand(stand, actor="test")
    db.session.rollback()
    assert _stand("A4") is not None
