"""Staff users and logging them in, for the auth and back-office tests."""

from __future__ import annotations

from conference.auth.models import StaffUser
from conference.auth.services import create_staff_user
from conference.core.db import db

PASSWORD = "correct horse battery staple"


def make_staff(
    email: str = "organiser@example.dk",
    role: str = "organiser",
    *,
    active: bool = True,
    password: str = PASSWORD,
) -> StaffUser:
    user = create_staff_user(email, role, password, name="", actor="test")
    user.is_active_user = active
    db.session.commit()
    return user


def log_in(client, email: str, password: str = PASSWORD, *, next_url: str | None = None):
    """Post the login form in English (the session remembers the language)."""
    client.get("/staff/login?lang=en")
    data = {"email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/staff/login", data=data)


def submit_staff_login(page, live_server: str, email: str, language: str = "da") -> None:
    """Log in through the login page in a browser (Playwright); the caller waits for
    the page that follows (the back office, or the second-factor step)."""
    page.goto(f"{live_server}/staff/login?lang={language}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")


def make_named_staff(email: str, role: str = "organiser", name: str = "") -> StaffUser:
    user = create_staff_user(email, role, PASSWORD, name=name, actor="test")
    db.session.commit()
    return user


def enable_totp(user: StaffUser):
    """Turn the second factor on as enrolment does; returns the app's pyotp.TOTP and
    the ten recovery codes. The enrolment code's time step counts as used."""
    import pyotp

    from conference.auth.services import enable_second_factor, new_totp_secret

    secret = new_totp_secret()
    totp = pyotp.TOTP(secret)
    codes = enable_second_factor(user, secret, totp.now())
    db.session.commit()
    return totp, codes


def next_code(totp) -> str:
    """The code of the next time step: accepted (clock drift) and not used yet."""
    import time

    return totp.at(time.time() + totp.interval)
