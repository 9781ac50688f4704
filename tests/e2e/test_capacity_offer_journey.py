"""An organiser raises the capacity of a full conference while two groups wait: the
dashboard shows the waiting list, the first group that fits is offered the places,
and the outbox worker delivers that offer e-mail over SMTP (a real local server)."""

from __future__ import annotations

import re

from sqlalchemy import select

from conference.core.db import db
from conference.mail.services import send_due_messages
from conference.registration.models import WaitingListEntry
from conference.registration.services import join_waiting_list, place_order
from tests.auth.helpers import PASSWORD, make_staff
from tests.conftest import booking_details
from tests.e2e.conftest import end_transaction
from tests.mail.conftest import SmtpServer, free_port
from tests.mail.helpers import outbox


def test_raising_capacity_sends_the_first_waiting_group_its_offer(
    app, live_server, page, small_edition
):
    edition = small_edition
    place_order(edition, booking_details(edition, 5))  # full
    first = join_waiting_list(
        edition, booking_details(edition, 2, booker_email="ole@odense.dk", booker_name="Ole")
    ).entry
    second = join_waiting_list(
        edition, booking_details(edition, 3, booker_email="kim@vejle.dk", booker_name="Kim")
    ).entry
    make_staff("organiser@example.dk")
    db.session.commit()
    first_id, second_id, slug = first.id, second.id, edition.slug
    end_transaction()

    page.goto(f"{live_server}/staff/login")
    page.fill("input[name=email]", "organiser@example.dk")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("Log ind")).click()
    page.goto(f"{live_server}/staff/e/{slug}")
    waiting = page.locator("#stat-waiting").inner_text()
    assert "5" in waiting and "2 grupper" in waiting

    # Two more places: the first group (two people) fits, the second (three) waits on.
    page.fill("input[name=capacity]", "7")
    page.get_by_role("button", name=re.compile("Gem kapacitet")).click()
    main = page.inner_text("main")
    assert "Kapaciteten er nu 7 pladser" in main and "1 tilbud" in main
    assert "3" in page.locator("#stat-waiting").inner_text()

    # The worker sends the queued e-mail to a real SMTP server.
    port = free_port()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=5)
    server = SmtpServer(port)
    server.start()
    try:
        end_transaction()
        result = send_due_messages()
    finally:
        server.stop()
    assert result.failed == 0
    (queued,) = outbox("waiting_list_offer")  # one offer, and only to the first group
    assert queued.to_address == "ole@odense.dk" and queued.status == "sent"
    subject = queued.subject
    end_transaction()
    (offer,) = [m for m in server.inbox.to("ole@odense.dk") if m["Subject"] == subject]
    assert not [m for m in server.inbox.to("kim@vejle.dk") if m["Subject"] == subject]
    text = offer.get_body(("plain",)).get_content()
    assert "Ole" in text and "2 " in text  # to the booker, for the whole group
    link = re.search(r"http://[^\s]+/w/[A-Za-z0-9_-]+", text)
    assert link is not None

    # The link opens the offer, holding the places for the first group.
    page.goto(link.group(0))
    assert page.get_by_role("button", name=re.compile("Bekræft")).is_visible()
    db.session.rollback()
    statuses = dict(db.session.execute(select(WaitingListEntry.id, WaitingListEntry.status)).all())
    assert statuses == {first_id: "offered", second_id: "waiting"}
    end_transaction()
