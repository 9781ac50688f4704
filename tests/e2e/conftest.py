"""Browser tests: Playwright for Python driving Debian's Chromium (never a downloaded one).

The app runs in a real HTTP server thread on a free port against the same test
database as the other fixtures. Screenshots of failed tests are kept in
tests/artifacts/.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from conference.core.db import db
from tests.payments.conftest import FakeStripe
from tests.payments.conftest import stripe_fake as stripe_fake  # the payments tests' fake

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield app.config["PUBLIC_BASE_URL"]
    server.shutdown()
    thread.join(timeout=5)


def end_transaction() -> None:
    """Leave no transaction open in the test thread: on SQLite it would block the
    server thread's writes."""
    db.session.rollback()


@pytest.fixture
def stripe_checkout(app, stripe_fake, live_server) -> FakeStripe:
    """Card payments on, with the fake Stripe's Checkout pages loadable in the browser:
    paying there sends the signed webhook to the live server, then the browser
    follows the success link back to the app."""
    stripe_fake.serve_checkout_pages(webhook_url=f"{live_server}/payments/stripe/webhook")
    app.config["STRIPE_CHECKOUT_ORIGIN"] = stripe_fake.checkout_base
    return stripe_fake


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (make test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing browser is a broken install, not a skip
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of every page it had open (the
    ``page`` and axe fixtures' and those a test opened itself), taken before the
    fixtures close them: tests/artifacts/<test>[-n].png."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or "browser" not in item.fixturenames:
        return
    browser = item.funcargs.get("browser")
    pages = [p for context in browser.contexts for p in context.pages] if browser else []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for number, open_page in enumerate(pages):
        suffix = f"-{number}" if number else ""
        try:
            open_page.screenshot(path=str(ARTIFACTS / f"{item.name}{suffix}.png"), full_page=True)
        except Exception as error:  # noqa: BLE001 - a closed page must not hide the failure
            report.sections.append(("screenshot", f"{open_page.url}: {error}"))
