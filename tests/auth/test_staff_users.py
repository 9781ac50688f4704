"""Organisers manage staff users in the back office: list, create, role, deactivate,
reactivate, new password. The last active organiser stays, nobody deactivates
themselves, and every change is in the audit log with its before and after."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conference.auth.models import StaffUser
from conference.auth.services import LastOrganiser, set_active
from conference.core.db import db, utcnow
from conference.core.models import AuditEvent
from tests.auth.helpers import PASSWORD, log_in, make_named_staff, make_staff

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def organiser(app):
    return make_named_staff("anna@example.dk", "organiser", "Anna Arrangør")


@pytest.fixture
def organiser_client(app, organiser):
    client = app.test_client()
    assert log_in(client, "anna@example.dk").status_code == 302
    return client


def _audit(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def _staff_count() -> int:
    return db.session.scalar(select(func.count(StaffUser.id)))


def test_the_list_shows_every_staff_user_with_role_status_second_factor_and_last_login(
    organiser_client,
):
    checker = make_named_staff("bo@example.dk", "checkin", "Bo Dør")
    checker.is_active_user = False
    db.session.commit()
    html = organiser_client.get("/staff/users").get_data(as_text=True)
    for text in ("Anna Arrangør", "anna@example.dk", "Bo Dør", "bo@example.dk"):
        assert text in html
    assert "Organiser" in html and "Check-in" in html
    assert "Deactivated" in html and "Active" in html
    assert "Never" in html  # Bo never logged in; Anna just did
    assert f'href="/staff/users/{checker.id}"' in html


def test_an_organiser_creates_a_user_who_can_log_in_with_a_hashed_password(app, organiser_client):
    response = organiser_client.post(
        "/staff/users/new",
        data={
            "name": "Carl Kasserer",
            "email": "Carl@Example.dk",
            "role": "accounting",
            "password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    carl = db.session.scalar(select(StaffUser).where(StaffUser.email == "carl@example.dk"))
    assert carl.role == "accounting" and carl.name == "Carl Kasserer"
    assert NEW_PASSWORD not in carl.password_hash and carl.check_password(NEW_PASSWORD)
    created = _audit("staff.created")[-1]
    assert created.actor == organiser_client_actor(app)
    assert created.data["before"] == {}
    assert created.data["after"]["role"] == "accounting"
    assert NEW_PASSWORD not in str(created.data)
    other = app.test_client()
    assert log_in(other, "carl@example.dk", NEW_PASSWORD).status_code == 302


def organiser_client_actor(app) -> str:
    anna = db.session.scalar(select(StaffUser).where(StaffUser.email == "anna@example.dk"))
    return anna.actor


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"password": "short"}, "password", "The password must be at least 10 characters."),
        ({"email": "anna@example.dk"}, "email", "A staff user with this e-mail already exists."),
        ({"email": "not-an-address"}, "email", "Enter a valid e-mail address."),
        ({"role": "admin"}, "role", "Not a valid choice."),
        ({"name": ""}, "name", "Enter the name."),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_created(
    organiser_client, data, field, message
):
    before = _staff_count()
    form = {"name": "Dorte", "email": "dorte@example.dk", "role": "checkin", "password": PASSWORD}
    form.update(data)
    response = organiser_client.post("/staff/users/new", data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html and message in html
    assert _staff_count() == before
    assert not _audit("staff.created")[1:]  # only Anna's own creation


def test_changing_a_role_is_audited_with_before_and_after(organiser_client):
    bo = make_named_staff("bo@example.dk", "checkin", "Bo")
    response = organiser_client.post(f"/staff/users/{bo.id}/role", data={"role": "accounting"})
    assert response.status_code == 302
    db.session.refresh(bo)
    assert bo.role == "accounting"
    change = _audit("staff.role_changed")[-1]
    assert change.object_type == "staff_user" and change.object_id == bo.id
    assert change.data == {"before": {"role": "checkin"}, "after": {"role": "accounting"}}


def test_the_last_active_organiser_cannot_be_demoted(organiser_client, organiser):
    response = organiser_client.post(
        f"/staff/users/{organiser.id}/role?lang=en", data={"role": "checkin"}
    )
    assert response.status_code == 409
    assert "last active organiser" in response.get_data(as_text=True)
    db.session.refresh(organiser)
    assert organiser.role == "organiser"
    assert _audit("staff.role_changed") == []


def test_an_organiser_can_step_down_when_another_is_active(organiser_client, organiser):
    make_named_staff("eva@example.dk", "organiser", "Eva")
    response = organiser_client.post(f"/staff/users/{organiser.id}/role", data={"role": "checkin"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    db.session.refresh(organiser)
    assert organiser.role == "checkin"
    # Now a check-in user: the staff screens are closed to them.
    assert organiser_client.get("/staff/users").status_code == 403


def test_an_inactive_organiser_does_not_count_as_the_other_organiser(organiser_client, organiser):
    make_staff("old@example.dk", "organiser", active=False)
    response = organiser_client.post(f"/staff/users/{organiser.id}/role", data={"role": "checkin"})
    assert response.status_code == 409
    db.session.refresh(organiser)
    assert organiser.role == "organiser"


def test_the_last_active_organiser_cannot_be_deactivated(app, organiser):
    with pytest.raises(LastOrganiser):
        set_active(organiser, False, actor="cli")
    db.session.rollback()
    db.session.refresh(organiser)
    assert organiser.is_active_user


def test_nobody_deactivates_themselves(organiser_client, organiser):
    make_named_staff("eva@example.dk", "organiser", "Eva")
    response = organiser_client.post(
        f"/staff/users/{organiser.id}/deactivate", data={"confirm": "y"}
    )
    assert response.status_code == 409
    assert "You cannot deactivate yourself." in response.get_data(as_text=True)
    db.session.refresh(organiser)
    assert organiser.is_active_user
    assert _audit("staff.deactivated") == []


def test_deactivating_needs_the_box_ticked(organiser_client):
    bo = make_named_staff("bo@example.dk", "checkin", "Bo")
    response = organiser_client.post(f"/staff/users/{bo.id}/deactivate", data={})
    assert response.status_code == 422
    assert "Tick the box to confirm." in response.get_data(as_text=True)
    db.session.refresh(bo)
    assert bo.is_active_user


def test_a_deactivated_user_is_logged_out_and_can_be_reactivated(app, organiser_client):
    bo = make_named_staff("bo@example.dk", "checkin", "Bo")
    bo_client = app.test_client()
    log_in(bo_client, "bo@example.dk")
    assert bo_client.get("/staff/").status_code == 200
    response = organiser_client.post(f"/staff/users/{bo.id}/deactivate", data={"confirm": "y"})
    assert response.status_code == 302
    assert bo_client.get("/staff/").status_code == 302
    assert log_in(app.test_client(), "bo@example.dk").status_code == 200  # refused
    deactivated = _audit("staff.deactivated")[-1]
    assert deactivated.data == {"before": {"active": True}, "after": {"active": False}}
    assert organiser_client.post(f"/staff/users/{bo.id}/reactivate").status_code == 302
    assert log_in(app.test_client(), "bo@example.dk").status_code == 302
    assert _audit("staff.reactivated")[-1].data["after"] == {"active": True}


def test_an_organiser_sets_a_new_password(app, organiser_client):
    bo = make_named_staff("bo@example.dk", "checkin", "Bo")
    short = organiser_client.post(
        f"/staff/users/{bo.id}/password", data={"password": "short", "password_repeat": "short"}
    )
    assert short.status_code == 422
    mismatch = organiser_client.post(
        f"/staff/users/{bo.id}/password",
        data={"password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD + "x"},
    )
    assert mismatch.status_code == 422
    assert "The two passwords are not the same." in mismatch.get_data(as_text=True)
    assert log_in(app.test_client(), "bo@example.dk").status_code == 302  # unchanged
    response = organiser_client.post(
        f"/staff/users/{bo.id}/password",
        data={"password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert log_in(app.test_client(), "bo@example.dk").status_code == 200  # old one refused
    assert log_in(app.test_client(), "bo@example.dk", NEW_PASSWORD).status_code == 302
    event = _audit("staff.password_set")[-1]
    assert event.object_id == bo.id and NEW_PASSWORD not in str(event.data)


def test_staff_change_their_own_password_with_the_current_one(app):
    make_named_staff("bo@example.dk", "checkin", "Bo")
    client = app.test_client()
    log_in(client, "bo@example.dk")
    wrong = client.post(
        "/staff/account/password",
        data={
            "current_password": "not it at all",
            "password": NEW_PASSWORD,
            "password_repeat": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 422
    assert "The current password is not correct." in wrong.get_data(as_text=True)
    right = client.post(
        "/staff/account/password",
        data={
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_repeat": NEW_PASSWORD,
        },
    )
    assert right.status_code == 302
    assert log_in(app.test_client(), "bo@example.dk", NEW_PASSWORD).status_code == 302
    assert _audit("staff.password_changed")


def test_unknown_staff_user_is_404(organiser_client):
    assert organiser_client.get("/staff/users/9999").status_code == 404
    assert (
        organiser_client.post("/staff/users/9999/role", data={"role": "checkin"}).status_code == 404
    )


@pytest.mark.parametrize("role", ["accounting", "checkin"])
def test_only_organisers_manage_staff_but_everyone_has_an_account_page(app, role):
    make_staff(f"{role}@example.dk", role)
    client = app.test_client()
    log_in(client, f"{role}@example.dk")
    for url in ("/staff/users", "/staff/users/new", "/staff/audit", "/staff/audit.csv"):
        assert client.get(url).status_code == 403, url
    assert (
        client.post("/staff/users/policy", data={"second_factor_required": "y"}).status_code == 403
    )
    assert client.get("/staff/account").status_code == 200


def test_anonymous_visitors_are_sent_to_login_from_the_new_screens(client):
    for url in (
        "/staff/users",
        "/staff/users/1",
        "/staff/account",
        "/staff/audit",
        "/staff/audit.csv",
        "/staff/account/second-factor",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith(
            "/staff/login?next="
        ), url


def test_the_cli_still_creates_users_and_its_creation_is_audited(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "--role", "checkin", "--password", PASSWORD, "door@example.dk"]
    )
    assert result.exit_code == 0, result.output
    event = _audit("staff.created")[-1]
    assert event.actor == "cli" and event.data["after"]["email"] == "door@example.dk"
    assert event.created_at <= utcnow()


def test_a_new_password_ends_the_users_other_sessions_but_not_the_one_that_set_it(app):
    make_named_staff("bo@example.dk", "checkin", "Bo")
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop, "bo@example.dk")
    log_in(phone, "bo@example.dk")
    response = laptop.post(
        "/staff/account/password",
        data={
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_repeat": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert laptop.get("/staff/").status_code == 200
    assert phone.get("/staff/").status_code == 302  # logged out


def test_an_organiser_setting_a_password_logs_that_user_out(app, organiser_client):
    bo = make_named_staff("bo@example.dk", "checkin", "Bo")
    bo_client = app.test_client()
    log_in(bo_client, "bo@example.dk")
    organiser_client.post(
        f"/staff/users/{bo.id}/password",
        data={"password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD},
    )
    assert bo_client.get("/staff/").status_code == 302
    assert organiser_client.get("/staff/users").status_code == 200
