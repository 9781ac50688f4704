"""A booker registers two colleagues with the keyboard alone, in a real browser.

Only Tab and Shift+Tab move focus, text is typed, Space picks a radio button and
Enter follows links and submits forms: no clicks, no filling by selector. Every
element that receives focus on the way must show it (an outline or a box shadow).
After a validation error the error summary takes focus, is announced (role=alert),
and its links move focus to the fields they name. The page's own scripts and
content security policy are the real ones.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from conference.core.db import db
from conference.registration.models import Order

# What the browser says about the focused element: enough to find it and to tell
# whether its focus can be seen.
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return {
    id: el.id, tag: el.tagName.toLowerCase(), text: (el.innerText || el.value || "").slice(0, 60),
    name: el.getAttribute("name"), value: el.value, type: el.getAttribute("type"),
    href: el.getAttribute("href"),
    visible: outline || style.boxShadow !== "none",
    inMain: !!el.closest("main"),
  };
}"""


def _focused(page) -> dict | None:
    return page.evaluate(_FOCUSED)


def _tab_to(page, matches, *, backwards: bool = False, limit: int = 60) -> dict:
    """Press Tab (or Shift+Tab) until the focused element matches; every element
    passed on the way must show its focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        focused = _focused(page)
        assert focused is not None, "focus left the page"
        assert focused["visible"], f"focus is not visible on {focused}"
        if matches(focused):
            return focused
    raise AssertionError(f"{limit} x {key} never reached the element")


def _by_id(element_id: str):
    return lambda focused: focused["id"] == element_id


def _type_into(page, element_id: str, text: str, *, backwards: bool = False) -> None:
    _tab_to(page, _by_id(element_id), backwards=backwards)
    page.keyboard.type(text)


def test_two_colleagues_register_with_the_keyboard_alone(live_server, page, edition):
    slug = edition.slug
    db.session.rollback()  # SQLite: no open transaction while the server works

    page.goto(f"{live_server}/e/{slug}")
    # The first Tab reaches the skip link; following it, the next Tab is in the content.
    _tab_to(page, lambda f: True)
    assert "skip-link" in page.evaluate("document.activeElement.className")
    box = page.locator(".skip-link").bounding_box()
    assert box["x"] >= 0 and box["y"] >= 0  # on screen while it has focus
    page.keyboard.press("Enter")
    first_in_main = _tab_to(page, lambda f: True)
    assert first_in_main["inMain"], first_in_main

    # Two participants, then the Register button.
    if first_in_main["id"] != "n":
        _tab_to(page, _by_id("n"))
    page.keyboard.press("ArrowDown")
    assert page.input_value("#n") == "2"
    _tab_to(page, lambda f: f["tag"] == "button" and f["type"] == "submit")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/register\?n=2"))
    page.wait_for_selector("#attendees-1-name")

    # The booker, in the order of the form; Space picks "municipality".
    _type_into(page, "booker_name", "Hanne Jensen")
    _type_into(page, "booker_email", "hanne@aarhus.dk")
    _type_into(page, "booker_phone", "+45 87 05 00 00")
    _type_into(page, "organisation", "Aarhus Kommune")
    radio = _tab_to(page, lambda f: f["name"] == "organisation_type")
    assert radio["value"] == "municipality"
    page.keyboard.press("Space")
    assert page.is_checked("input[name=organisation_type][value=municipality]")
    # The second participant's e-mail is forgotten and the EAN mistyped.
    _type_into(page, "attendees-0-name", "Kollega 1")
    _type_into(page, "attendees-0-email", "kollega1@aarhus.dk")
    _type_into(page, "attendees-1-name", "Kollega 2")
    _type_into(page, "invoice_organisation", "Aarhus Kommune, Digitalisering")
    _type_into(page, "invoice_address", "Rådhuspladsen 2")
    _type_into(page, "invoice_postcode", "8000")
    _type_into(page, "invoice_city", "Aarhus C")
    _type_into(page, "ean", "5798000000002")
    page.keyboard.press("Enter")  # Enter in a text field submits the form

    # The error summary has focus and is announced; nothing was registered.
    page.wait_for_selector("#error-summary")
    # A function, not an expression: Playwright evals an expression again on every
    # poll, which the page's CSP (no 'unsafe-eval') refuses once focus is late.
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.id === 'error-summary'"
    )
    assert page.get_attribute("#error-summary", "role") == "alert"
    assert db.session.scalar(select(Order)) is None
    db.session.rollback()
    targets = page.locator("#error-summary a").evaluate_all(
        "links => links.map(a => a.getAttribute('href').slice(1))"
    )
    assert targets == ["attendees-1-email", "ean"], targets
    answers = {"attendees-1-email": "kollega2@aarhus.dk", "ean": "5798000000001"}

    # Each link of the summary moves focus to its field, where the answer is typed;
    # then Shift+Tab goes back up to the next link.
    for index, target in enumerate(targets):
        _tab_to(page, lambda f, target=target: f["href"] == f"#{target}", backwards=index > 0)
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.activeElement.id === {target!r}")
        assert _focused(page)["visible"]
        page.keyboard.press("Control+A")
        page.keyboard.type(answers[target])

    # On to the button and Enter: the places are the booker's.
    _tab_to(page, lambda f: f["tag"] == "button" and "bind" in f["text"].lower())
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/m/[^/]+\?new=1"))
    text = page.inner_text("main")
    assert "Kollega 1" in text and "Kollega 2" in text
    order = db.session.scalar(select(Order))
    assert order is not None and len(order.attendees) == 2 and order.ean == "5798000000001"
    db.session.rollback()
