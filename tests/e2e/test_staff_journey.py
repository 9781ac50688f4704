"""An organiser in a real browser: manages staff, turns on the second factor by
scanning the (inline SVG) QR code's secret, logs in again with a code, and reads
the audit log. axe-core checks every one of these screens, in Danish and English."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from tests.auth.helpers import make_named_staff, submit_staff_login
from tests.e2e.test_accessibility import LANGUAGES, Audit, _quiet
from tests.e2e.test_accessibility import axe_page as axe_page  # the fixture

pytestmark = pytest.mark.e2e

SUBMIT = "main form button[type=submit]"
BACK_OFFICE = {"da": "Administration", "en": "Back office"}
STAFF = {"da": "Medarbejdere", "en": "Staff"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_organiser_manages_staff_sets_up_totp_and_reads_the_audit_log(
    live_server, axe_page, edition, language
):
    make_named_staff("anna@example.dk", "organiser", "Anna Arrangør")
    _quiet()
    page = axe_page
    audit = Audit(page, language)
    submit_staff_login(page, live_server, "anna@example.dk", language)
    page.wait_for_url(re.compile(r"/staff/$"))

    page.goto(f"{live_server}/staff/users")
    audit.check("staff users")
    # The back office's sections have a row of their own under the header, which
    # keeps the brand, the user, "log out" and the language on one line.
    sections = page.get_by_role("navigation", name=BACK_OFFICE[language], exact=True)
    staff_link = sections.get_by_role("link", name=STAFF[language], exact=True)
    assert staff_link.get_attribute("aria-current") == "page"
    middles = page.evaluate(
        """() => [...document.querySelector(".header-inner").children].map(
            (element) => { const box = element.getBoundingClientRect();
                           return box.top + box.height / 2; })"""
    )
    assert max(middles) - min(middles) < 4, middles
    page.click("main a.button[href='/staff/users/new']")
    audit.check("new staff user")
    page.fill("#name", "Bo Dør")
    page.fill("#email", "bo@example.dk")
    page.select_option("#role", "checkin")
    page.fill("#password", "short")
    page.click(SUBMIT)
    page.wait_for_selector("#password-error")
    audit.check("new staff user, errors")
    page.fill("#password", "a long enough password")
    page.click(SUBMIT)
    page.wait_for_url(re.compile(r"/staff/users/\d+$"))
    audit.check("staff user")
    page.select_option("#role", "accounting")
    page.click("form[action$='/role'] button[type=submit]")
    page.wait_for_selector(".notice-success")

    page.goto(f"{live_server}/staff/account")
    audit.check("my account")
    page.goto(f"{live_server}/staff/account/second-factor")
    assert page.locator(".totp-qr svg").count() == 1
    audit.check("second factor enrolment")
    secret = page.locator("code.totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.fill("#code", totp.now())
    page.click(SUBMIT)
    page.wait_for_selector(".recovery-codes")
    assert page.locator(".recovery-codes li").count() == 10
    audit.check("recovery codes")

    page.click("button.logout-button")
    submit_staff_login(page, live_server, "anna@example.dk", language)
    page.wait_for_url(re.compile(r"/staff/login/code$"))
    audit.check("login code step")
    page.fill("#code", totp.at(time.time() + totp.interval))
    page.click(SUBMIT)
    page.wait_for_url(re.compile(r"/staff/$"))

    page.goto(f"{live_server}/staff/audit")
    audit.check("audit log")
    assert page.locator("code", has_text="staff.second_factor_enabled").count() == 1
    assert page.locator("ins", has_text="accounting").count() >= 1
    page.fill("#q", "Bo")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state()
    audit.check("audit log, searched")
    audit.assert_clean()
