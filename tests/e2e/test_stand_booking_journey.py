"""An IT vendor books a stand on the floor plan in a real browser, names two staff from the
link in the confirmation e-mail, and the next visitor sees the stand as booked."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from conference.core.db import db
from conference.mail.models import OutboxMessage
from conference.stands.models import ExhibitorPass, StandBooking
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_accessibility import axe_page as axe_page  # the fixture
from tests.stands.conftest import make_hall


def _end_transaction() -> None:
    # On SQLite an open transaction in the test thread would block the server's writes.
    db.session.rollback()


def _manage_link_in_mail(to: str) -> str:
    body = db.session.scalar(
        select(OutboxMessage.body_text).where(
            OutboxMessage.kind == "stand_confirmation", OutboxMessage.to_address == to
        )
    )
    _end_transaction()
    assert body, f"no confirmation to {to}"
    return re.search(r"http://\S+/s/[A-Za-z0-9_-]+", body).group(0)


def test_exhibitor_books_a_stand_on_the_plan_and_names_two_staff(live_server, browser, edition):
    make_hall(edition)
    slug = edition.slug
    _end_transaction()
    context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)

    # The exhibition is linked from the event page; stand A3 is free on the plan.
    page.goto(f"{live_server}/e/{slug}")
    page.get_by_role("link", name="Se plantegningen og book en stand").click()
    plan_stand = page.locator("svg.floor-plan a[data-stand='A3']")
    assert plan_stand.get_attribute("data-status") == "free"
    assert "Ledig" in plan_stand.text_content()
    plan_stand.click()

    # The booking form: the package's inclusions, add-ons, terms; a wrong CVR first.
    page.wait_for_selector("#stand-form")
    assert "Book stand A3" in page.inner_text("h1")
    assert "Bord og to stole" in page.inner_text("main")
    page.fill("#company", "Kommunedata A/S")
    page.fill("#cvr", "12345678")
    page.fill("#address", "Lautrupbjerg 10")
    page.fill("#postcode", "2750")
    page.fill("#city", "Ballerup")
    page.fill("#contact_name", "Sara Holm")
    page.fill("#contact_email", "sara@kommunedata.dk")
    page.fill("#contact_phone", "+45 44 68 00 00")
    page.fill("#invoice_email", "faktura@kommunedata.dk")
    page.check("#terms_accepted")
    page.get_by_role("button", name="Book standen (bindende)").click()
    page.wait_for_selector("#cvr[aria-invalid=true]")
    assert "Det er ikke et gyldigt CVR-nummer" in page.inner_text("#error-summary")
    assert db.session.scalar(select(StandBooking)) is None
    _end_transaction()
    page.fill("#cvr", "10150817")
    if not page.is_checked("#terms_accepted"):
        page.check("#terms_accepted")
    page.get_by_role("button", name="Book standen (bindende)").click()
    page.wait_for_selector("#confirmation")
    assert "Stand A3 er booket" in page.inner_text("#confirmation")

    # The contact person opens the manage link from the e-mail and names two staff.
    page.goto(_manage_link_in_mail("sara@kommunedata.dk"))
    assert "0 af 2 pas er navngivet." in page.inner_text("#staff-count")
    for name, email in (("Jonas Berg", "jonas@kommunedata.dk"), ("Ida Lund", "ida@kommunedata.dk")):
        page.fill("#staff-name", name)
        page.fill("#staff-email", email)
        page.get_by_role("button", name="Navngiv og send passet").click()
        page.wait_for_selector(f"text={name} er navngivet")
    assert "2 af 2 pas er navngivet." in page.inner_text("#staff-count")
    assert page.locator("#staff-form").count() == 0
    names = db.session.scalars(select(ExhibitorPass.name).order_by(ExhibitorPass.id)).all()
    mails = db.session.scalars(
        select(OutboxMessage.to_address).where(OutboxMessage.kind == "stand_pass")
    ).all()
    _end_transaction()
    assert names == ["Jonas Berg", "Ida Lund"]
    assert sorted(mails) == ["ida@kommunedata.dk", "jonas@kommunedata.dk"]
    context.close()

    # A second visitor, in a browser of their own, sees A3 as booked and cannot pick it.
    other = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    visitor = other.new_page()
    visitor.goto(f"{live_server}/e/{slug}/exhibition?lang=en")
    booked = visitor.locator("svg.floor-plan [data-stand='A3']")
    assert booked.get_attribute("data-status") == "booked"
    assert "Booked" in booked.text_content()
    assert visitor.locator("svg.floor-plan a[data-stand='A3']").count() == 0
    row = visitor.locator("table.stand-table tr[data-stand='A3']")
    assert "Booked" in row.inner_text() and "Kommunedata A/S" in row.inner_text()
    assert visitor.locator("svg.floor-plan a[data-stand='A2']").count() == 1
    other.close()


@pytest.mark.parametrize("language", ["da", "en"])
def test_exhibition_pages_have_no_serious_accessibility_findings(
    live_server, axe_page, edition, language
):
    from conference.stands import services
    from tests.stands.conftest import company_details

    make_hall(edition, stands=6)
    booked = services.book_stand(
        edition, services.get_stand(edition, "A1"), company_details(language=language)
    )
    services.name_staff(booked.booking, services.StaffDetails("Jonas Berg", "jonas@kd.dk"))
    db.session.commit()
    slug = edition.slug
    _end_transaction()
    page, audit = axe_page, Audit(axe_page, language)

    page.goto(f"{live_server}/e/{slug}/exhibition?lang={language}")
    audit.check("exhibition: plan and list")
    page.goto(f"{live_server}/e/{slug}/exhibition/stands/A2")
    audit.check("booking form")
    page.click("#stand-form button[type=submit]")
    page.wait_for_selector("#error-summary")
    audit.check("booking form with errors")
    page.goto(f"{live_server}/e/{slug}/exhibition/stands/A1")
    audit.check("a stand that is not free")
    page.goto(f"{live_server}/s/{booked.token}?new=1")
    audit.check("manage page, just booked")
    page.fill("#staff-name", "")
    page.click("#staff-form button[type=submit]")
    page.wait_for_selector("#staff-name[aria-invalid=true]")
    audit.check("manage page, staff form with errors")
    page.goto(f"{live_server}/e/{slug}/exhibitors")
    audit.check("exhibitor list")
    audit.assert_clean()
