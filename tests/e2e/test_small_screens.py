"""On a phone (390 CSS pixels wide) no page is wider than the screen.

A page wider than the screen makes the visitor pan sideways to read a price or
find a button; an organiser checks the dashboard on a phone during the rush, an
exhibitor picks a stand from the tram. The test loads the demo edition (orders,
invoices, stands, exhibitors, e-mails), then walks every page it can reach by
links: from the public pages, the booker's and the exhibitor's manage links and
the back office, as an organiser. Tables may scroll inside their own frame (one
a keyboard can scroll too); the page itself must not, no amount in a price
list may break inside, and a chart's words stay readable (the
dashboard's: not shrunk with the drawing, not on top of each other).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from conference.core.db import db, utcnow
from conference.events.commands import load_demo
from conference.events.models import Edition
from tests.auth.helpers import make_staff, submit_staff_login
from tests.e2e.test_accessibility import AXE
from tests.mail.helpers import outbox

PHONE = {"width": 390, "height": 844}
# Files, not pages; logging out would end the walk; a language switch is a page
# already walked in the other language.
NOT_PAGES = re.compile(
    r"\.(csv|xlsx|pdf|zip|json|svg|png|jpe?g|eml)$|/(pdf|ubl|html|logo|background)$|/attachments/|/logout"
)
MAX_PAGES = 150
# The elements that stick out of a too wide page, for the failure message.
WIDEST = """() => {
  const width = document.documentElement.clientWidth, found = [];
  for (const el of document.querySelectorAll('body *')) {
    const right = el.getBoundingClientRect().right;
    const parent = el.parentElement.getBoundingClientRect().right;
    if (right > width + 1 && parent <= width + 1) {
      found.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                 + ' ' + Math.round(right) + 'px');
    }
  }
  return found.slice(0, 4);
}"""


# An amount in a price list broken over two lines ("50.125,00 kr" and "."): each
# amount ("2.575,00 kr.", its parts joined by no-break spaces) must stay on one
# line, though a price with its VAT-inclusive amount may wrap between the two.
BROKEN_AMOUNTS = """() => {
  const broken = [];
  for (const dd of document.querySelectorAll('.price-list dd')) {
    const texts = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
    for (let node = texts.nextNode(); node; node = texts.nextNode()) {
      const re = /[^ \\n\\t]+/g;
      for (let m = re.exec(node.data); m; m = re.exec(node.data)) {
        if (!/\\d/.test(m[0])) continue;
        const word = document.createRange();
        word.setStart(node, m.index);
        word.setEnd(node, m.index + m[0].length);
        if (word.getClientRects().length > 1) broken.push(m[0]);  // a box per line
      }
    }
  }
  return broken;
}"""
# A chart's words too small to read (a drawing scaled down to the screen), outside
# the chart, or on top of each other (the days under a column chart).
UNREADABLE_CHART_TEXT = """() => {
  const problems = [];
  for (const svg of document.querySelectorAll('svg.chart')) {
    const frame = svg.getBoundingClientRect();
    const shown = [...svg.querySelectorAll('text')]
      .filter(t => getComputedStyle(t).display !== 'none');
    for (const t of shown) {
      const box = t.getBoundingClientRect();
      if (box.height < 11)
        problems.push(`${svg.id} "${t.textContent}" ${box.height.toFixed(1)}px high`);
      if (box.left < frame.left - 1 || box.right > frame.right + 1)
        problems.push(`${svg.id} "${t.textContent}" outside the chart`);
    }
    const days = shown.filter(t => t.classList.contains('chart-day'))
      .map(t => t.getBoundingClientRect());
    for (let i = 1; i < days.length; i++) {
      if (days[i].left < days[i - 1].right + 2)
        problems.push(`${svg.id}: day labels ${i - 1} and ${i} overlap`);
    }
  }
  return problems;
}"""
WIDTHS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def _too_wide(page, label: str) -> list[str]:
    """The page, if it is wider than its screen, with the elements that stick out."""
    width, screen = page.evaluate(WIDTHS)
    return [f"{label}: {width}px {page.evaluate(WIDEST)}"] if width > screen else []


# A frame that scrolls must be reachable by keyboard too (axe's rule on this).
UNREACHABLE = """() => axe.run(document, {runOnly: ['scrollable-region-focusable']})
  .then(r => r.violations.flatMap(v => v.nodes.map(n => n.target.join(' '))))"""


def _shape(path: str, query: str) -> str:
    """The kind of page a link opens: one order page stands for all of them."""
    shape = re.sub(r"/[A-Z]?\d+(?=/|$)", "/N", path)  # an id, or a stand's code (A2)
    shape = re.sub(r"/[A-Za-z0-9_-]{20,}", "/TOKEN", shape)
    shape = re.sub(r"/DT[A-Z0-9]{6}", "/REF", shape)
    keys = sorted({part.split("=")[0] for part in query.split("&") if part})
    return shape + "?" + "&".join(keys)


def _links_in(page, origin: str) -> list[str]:
    hrefs = page.eval_on_selector_all(
        "a[href]:not([download])",
        # The floor plan's links are SVG <a>, whose .href is not a string.
        "links => links.map(a => new URL(a.getAttribute('href'), document.baseURI).href)",
    )
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin or "lang=" in parts.query:
            continue
        if NOT_PAGES.search(parts.path):
            continue
        found.append(parts.path + ("?" + parts.query if parts.query else ""))
    return found


def _manage_links() -> list[str]:
    """A booker's, an attendee's and an exhibitor's own link, from the demo's e-mails."""
    db.session.rollback()
    links = []
    for kind, pattern in (
        ("order_confirmation", r"/m/[A-Za-z0-9_-]+"),
        ("ticket", r"/m/[A-Za-z0-9_-]+"),
        ("stand_confirmation", r"/s/[A-Za-z0-9_-]+"),
    ):
        for message in outbox(kind)[:1]:
            match = re.search(pattern, message.body_text)
            if match:
                links.append(match.group(0))
    db.session.rollback()
    return links


@pytest.mark.parametrize("language", ["da", "en"])
def test_no_page_is_wider_than_a_phone(app, browser, live_server, language):
    result = app.test_cli_runner().invoke(load_demo, ["--year", "2031"])
    assert result.exit_code == 0, result.output
    edition = db.session.scalar(select(Edition))
    # Registration open, as during the rush (the 2031 edition's opens in November 2030).
    edition.registration_opens_at = utcnow() - timedelta(days=1)
    db.session.commit()
    slug = edition.slug
    make_staff("anna@example.dk")
    manage_links = _manage_links()
    db.session.rollback()
    assert len(manage_links) == 3, manage_links

    context = browser.new_context(locale="da-DK", viewport=PHONE)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(10_000)
    too_wide, unreachable, charts = [], [], 0

    def check(label: str) -> None:
        nonlocal charts
        assert page.get_attribute("html", "lang") == language, label
        too_wide.extend(_too_wide(page, label))
        too_wide.extend(f"{label}: amount broken: {a}" for a in page.evaluate(BROKEN_AMOUNTS))
        too_wide.extend(f"{label}: chart: {p}" for p in page.evaluate(UNREADABLE_CHART_TEXT))
        charts += page.locator("svg.chart").count()
        unreachable.extend(f"{label}: {target}" for target in page.evaluate(UNREACHABLE))

    try:
        submit_staff_login(page, live_server, "anna@example.dk", language)
        page.wait_for_url(re.compile(r"/staff/(?!login)"))

        start = [
            "/",
            f"/e/{slug}",
            f"/e/{slug}/register",
            f"/e/{slug}/register?n=3",
            f"/e/{slug}/exhibition",
            *manage_links,
            "/staff/",
            f"/staff/e/{slug}",
        ]
        queue, seen_shapes, walked = list(start), {}, []
        while queue and len(walked) < MAX_PAGES:
            path = queue.pop(0)
            parts = urlsplit(path)
            shape = _shape(parts.path, parts.query)
            if seen_shapes.get(shape, 0) >= 2 or path in walked:
                continue
            seen_shapes[shape] = seen_shapes.get(shape, 0) + 1
            response = page.goto(live_server + path)
            walked.append(path)
            if (
                response is None
                or not response.ok
                or "text/html" not in (response.headers.get("content-type", ""))
            ):
                continue
            check(path)
            queue.extend(_links_in(page, live_server))

        # The public forms sent back with every error shown (longer, with a summary).
        stand_forms = [path for path in walked if "/exhibition/stands/" in path]
        for form_page in [f"/e/{slug}/register?n=2", *stand_forms[:1]]:
            page.goto(live_server + form_page)
            page.click("main form[method=post] button[type=submit]:visible >> nth=-1")
            page.wait_for_selector(".error-summary")
            check(f"{form_page}, sent empty")
    finally:
        context.close()

    # The walk reached the corners it is meant to check, not just the front page.
    for expected in ("/staff/e/", "/orders/", "/staff/accounting/", "/m/", "/s/", "/exhibitors"):
        assert any(expected in path for path in walked), (expected, walked)
    assert stand_forms, "the walk found no stand to book"
    assert charts >= 2, "the walk saw no dashboard chart"
    assert not too_wide, "pages that do not fit a phone's screen:\n" + "\n".join(too_wide)
    assert not unreachable, "frames that scroll but not by keyboard:\n" + "\n".join(unreachable)


def _assert_emails_fit_a_phone(browser, emails: list[tuple[str, str]]) -> None:
    """Lay out each (label, HTML body) at a phone's width; none may need panning."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    too_wide = []
    try:
        for label, html in emails:
            assert html, label
            page.set_content(html)
            too_wide.extend(_too_wide(page, label))
    finally:
        context.close()
    assert not too_wide, "e-mails wider than a phone:\n" + "\n".join(too_wide)


def test_every_email_of_the_demo_fits_a_phone(app, browser):
    """An e-mail is read on a phone more often than a page: its HTML must not need
    panning either (a long label beside its value, an invoice address)."""
    result = app.test_cli_runner().invoke(load_demo, ["--year", "2031"])
    assert result.exit_code == 0, result.output
    messages = {}
    for message in outbox():
        messages.setdefault(message.kind, message.body_html)
    db.session.rollback()
    assert {"order_confirmation", "ticket", "stand_confirmation", "stand_pass"} <= set(messages)

    _assert_emails_fit_a_phone(browser, sorted(messages.items()))


def test_the_waiting_list_transfer_and_cancellation_emails_fit_a_phone(app, browser, edition):
    """The e-mails the demo does not send, from the services that send them: a
    group joins the waiting list, is offered places and lets the offer run out,
    the next group takes its offer, a place is handed to a colleague, a request
    to hand one outside the organisation is declined, a place moves to another
    ticket type, the organiser writes to everyone, one place and then a whole
    order are cancelled."""
    from conference.backoffice.services import move_attendee
    from conference.communication.services import Audience, MessageText, send_message
    from conference.events.services import change_capacity
    from conference.registration.services import (
        accept_offer,
        cancel_attendee,
        cancel_order,
        expire_offers,
        join_waiting_list,
        place_order,
    )
    from conference.transfers.services import (
        Colleague,
        decline_transfer,
        organiser_transfer,
        request_transfer,
    )
    from tests.conftest import booking_details

    quota = edition.quotas[0]
    quota.capacity = 3
    db.session.commit()
    first = place_order(edition, booking_details(edition, 3)).order
    db.session.commit()
    for who in ("venter", "naeste"):
        details = booking_details(
            edition,
            2,
            booker_email=f"{who}@odense.dk",
            booker_name=f"Bodil {who.title()}-Andersen Kristiansen",
        )
        for index, attendee in enumerate(details.attendees):
            attendee.email = f"{who}.{index}@odense.dk"
        join_waiting_list(edition, details)
        db.session.commit()
    change_capacity(quota.id, 5, actor="staff:1")  # two places: offered to the first group
    db.session.commit()
    expire_offers(edition, now=utcnow() + timedelta(days=30))  # ... which lets it run out
    db.session.commit()
    offer = next(m for m in outbox("waiting_list_offer") if m.to_address == "naeste@odense.dk")
    token = re.search(r"/w/(\S+)", offer.body_text).group(1)
    db.session.rollback()
    accept_offer(token)
    db.session.commit()
    attendee = first.attendees[0]
    organiser_transfer(
        attendee,
        Colleague(name="Kristoffer Vestergaard-Møllerhøj", email="kristoffer@aarhus.dk"),
        expected_version=attendee.ticket_version,
        actor="staff:1",
    )
    db.session.commit()
    asking = first.attendees[1]
    request = request_transfer(
        asking,
        Colleague(name="Birgitte Rasmussen", email="birgitte.rasmussen@gmail.com"),
        expected_version=asking.ticket_version,
        requested_by="booker",
        requester_email=first.booker_email,
        confirmed_outside=True,
    )
    db.session.commit()
    assert request.is_pending  # outside the organisation: an organiser decides
    decline_transfer(request.transfer, actor="staff:1", reason="Kun kommunens egne ansatte")
    db.session.commit()
    speaker = next(t for t in edition.ticket_types if t.price_net_ore == 0)
    moved = first.attendees[2]
    move_attendee(moved, speaker, expected_version=moved.ticket_version, actor="staff:1")
    db.session.commit()
    send_message(
        edition,
        Audience(include_bookers=True),
        MessageText("Praktisk information", "Husk navneskiltet.\nDørene åbner kl. 8.00."),
        actor="staff:1",
    )
    db.session.commit()
    cancel_attendee(first.attendees[1], actor="staff:1", reason="Dobbelttilmelding")
    db.session.commit()
    cancel_order(first, actor="staff:1", reason="Kommunen har meldt afbud")
    db.session.commit()

    # Every message, not one per kind: a partial and a whole cancellation, say,
    # are the same kind with different paragraphs.
    messages = [(message.kind, message.to_address, message.body_html) for message in outbox()]
    db.session.rollback()
    expected = {
        "waiting_list_joined",
        "waiting_list_offer",
        "waiting_list_expired",
        "transfer_confirmation",
        "transfer_ticket",
        "place_cancelled",
        "order_cancelled",
        "transfer_declined",
        "place_moved",
        "communication",
    }
    assert expected <= {kind for kind, _to, _html in messages}, messages

    _assert_emails_fit_a_phone(
        browser, [(f"{kind} to {to}", html) for kind, to, html in messages if kind in expected]
    )


def test_the_stand_emails_fit_a_phone(app, browser, edition):
    """The exhibitors' e-mails beyond the demo's: a request received and declined,
    another approved, moved to another stand, extra passes bought, cancelled."""
    from conference.stands import services
    from conference.stands.models import BookingMode
    from tests.stands.conftest import company_details, make_hall, stand

    make_hall(edition, mode=BookingMode.APPROVAL, stands=6)
    long_name = {"company": "Kommunernes Fælles Digitaliseringsservicecenter ApS"}
    declined = services.book_stand(edition, stand(edition, "A1"), company_details(1, **long_name))
    db.session.commit()
    services.decline_booking(declined.booking, actor="staff:1", reason="Kun leverandører")
    db.session.commit()
    requested = services.book_stand(edition, stand(edition, "A2"), company_details(2))
    db.session.commit()
    approved = services.approve_booking(requested.booking, actor="staff:1")
    db.session.commit()
    services.move_booking(approved.booking, stand(edition, "A3"), actor="staff:1", reason="Ny plan")
    db.session.commit()
    services.buy_extra_passes(approved.booking, 2)
    db.session.commit()
    services.cancel_booking(approved.booking, actor="staff:1", reason="Firmaet har meldt afbud")
    db.session.commit()

    messages = [(message.kind, message.to_address, message.body_html) for message in outbox()]
    db.session.rollback()
    expected = {
        "stand_request_received",
        "stand_declined",
        "stand_confirmation",
        "stand_moved",
        "stand_extra_passes",
        "stand_cancelled",
    }
    assert expected <= {kind for kind, _to, _html in messages}, messages

    _assert_emails_fit_a_phone(browser, [(f"{kind} to {to}", html) for kind, to, html in messages])


# Where the door's arrivals and its exhibitors' count are drawn.
DOOR_COUNTS = """() => {
  const counts = document.querySelector('.door-counts');
  const arrived = counts.querySelector('[data-arrived]').getBoundingClientRect();
  const exhibitors = counts.querySelector('.door-exhibitor-count');
  const box = exhibitors.getBoundingClientRect();
  return {counts_left: counts.getBoundingClientRect().left, left: box.left,
          top: box.top, arrived_bottom: arrived.bottom,
          border: getComputedStyle(exhibitors).borderLeftWidth};
}"""


@pytest.mark.parametrize("width", [PHONE["width"], 1280])
def test_the_doors_exhibitor_count_has_a_line_of_its_own_on_a_phone(
    app, browser, live_server, width
):
    """At the door the phone in a steward's hand shows the exhibitors' arrivals
    under the attendees', flush left; a wide screen shows them side by side,
    set apart by a rule."""
    result = app.test_cli_runner().invoke(load_demo, ["--year", "2031"])
    assert result.exit_code == 0, result.output
    slug = db.session.scalar(select(Edition)).slug
    make_staff("anna@example.dk")
    db.session.rollback()

    context = browser.new_context(viewport={"width": width, "height": 844})
    page = context.new_page()
    try:
        submit_staff_login(page, live_server, "anna@example.dk")
        page.wait_for_url(re.compile(r"/staff/(?!login)"))
        page.goto(f"{live_server}/staff/e/{slug}/checkin")
        drawn = page.evaluate(DOOR_COUNTS)
    finally:
        context.close()
    if width == PHONE["width"]:
        assert drawn["left"] == drawn["counts_left"], drawn
        assert drawn["top"] >= drawn["arrived_bottom"] - 1, drawn
        assert drawn["border"] == "0px", drawn
    else:
        assert drawn["left"] > drawn["counts_left"] + 100, drawn
        assert drawn["top"] < drawn["arrived_bottom"], drawn
        assert drawn["border"] != "0px", drawn
