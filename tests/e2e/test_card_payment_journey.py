"""A company books two places by card through (fake) Stripe Checkout, in a real
browser; another booker leaves Checkout and gets their places released.

The fake Stripe serves the Checkout page the app redirects to: paying there
marks the session paid, delivers the signed ``checkout.session.completed``
webhook to the live server and sends the browser to the success link.
"""

from __future__ import annotations

import re
import subprocess

from sqlalchemy import func, select

from conference.core.db import db
from conference.events.models import Quota
from conference.invoicing.models import Invoice
from conference.mail.models import OutboxMessage
from conference.mail.services import attachment_data
from conference.payments.models import CheckoutSession, CheckoutStatus
from conference.registration.models import Order
from tests.e2e.conftest import end_transaction

TWO_PLACES_GROSS = "6.437,50"  # 2 × 2.575,00 kr. + 25 % moms


def _book_by_card(page, live_server, slug: str, *, places: int, booker: str, email: str) -> None:
    """From the event page to the press on "Tilmeld (bindende)", paying by card."""
    page.goto(f"{live_server}/e/{slug}")
    page.select_option("select[name=n]", str(places))
    page.get_by_role("button", name=re.compile("Tilmeld")).first.click()
    domain = email.split("@", 1)[1]
    for index in range(places):
        page.fill(f"#attendees-{index}-name", f"Konsulent {index + 1}")
        page.fill(f"#attendees-{index}-email", f"konsulent{index + 1}@{domain}")
    page.fill("#booker_name", booker)
    page.fill("#booker_email", email)
    page.fill("#booker_phone", "+45 36 88 00 00")
    page.fill("#organisation", "Netcompany A/S")
    page.check("input[name=organisation_type][value=private]")
    page.fill("#invoice_organisation", "Netcompany A/S")
    page.fill("#invoice_address", "Grønningen 17")
    page.fill("#invoice_postcode", "1270")
    page.fill("#invoice_city", "København K")
    page.fill("#cvr", "14814833")
    page.get_by_label(re.compile("Kort, nu")).check()
    assert page.input_value("#ean") == ""
    page.get_by_role("button", name=re.compile(r"\(bindende\)")).click()


def _taken(edition) -> int:
    end_transaction()
    value = db.session.scalar(select(func.sum(Quota.taken)).where(Quota.edition_id == edition.id))
    end_transaction()
    return value


def _pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


def test_company_pays_two_places_by_card_and_gets_the_paid_invoice(
    live_server, page, edition, stripe_checkout
):
    slug = edition.slug
    end_transaction()
    _book_by_card(page, live_server, slug, places=2, booker="Mette Holm", email="mh@netcompany.dk")

    # A real redirect to Stripe's Checkout page, which the browser loads.
    page.wait_for_url(re.compile(re.escape(stripe_checkout.checkout_base) + r"/c/pay/cs_test_"))
    assert f"Betal {TWO_PLACES_GROSS} kr." in page.inner_text("h1")
    session = stripe_checkout.only_session()
    assert session["customer_email"] == "mh@netcompany.dk"
    assert session["locale"] == "da"
    # Held while the booker pays, nothing confirmed yet.
    assert _taken(edition) == 2
    order = db.session.scalar(select(Order))
    assert order.status == "pending_payment" and order.cvr == "14814833" and not order.ean
    end_transaction()

    # The booker pays: Stripe sends the signed webhook, then the success link.
    page.get_by_role("button", name="Betal").click()
    page.wait_for_url(re.compile(r"/pay/cs_test_[0-9a-f]+/done$"))
    [(event, reply)] = stripe_checkout.webhooks_sent
    assert event["type"] == "checkout.session.completed"
    assert reply.status_code == 200 and reply.json()["outcome"] == "confirmed"

    status = page.locator("#payment-status")
    assert status.get_attribute("data-state") == "paid"
    text = page.inner_text("main")
    assert "Betalingen er modtaget, og jeres pladser er bekræftet" in text
    assert "2 pladser er nu jeres. Tilmeldingen er bindende." in text
    assert "mh@netcompany.dk" in text and TWO_PLACES_GROSS in text

    end_transaction()
    order = db.session.scalar(select(Order))
    assert order.reference in text
    assert (order.status, order.payment_status) == ("confirmed", "paid")
    checkout = db.session.scalar(select(CheckoutSession))
    assert checkout.status == CheckoutStatus.COMPLETE
    assert _taken(edition) == 2

    # A paid invoice for the company, and the receipt carrying its PDF.
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    assert invoice is not None and invoice.kind == "invoice"
    assert invoice.buyer_cvr == "14814833" and not invoice.buyer_ean
    assert invoice.payment_method == "card"
    assert invoice.total_ore == 2 * 321875
    assert sum(p.amount_ore for p in invoice.payments) == invoice.total_ore
    receipt = db.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.kind == "order_confirmation",
            OutboxMessage.to_address == "mh@netcompany.dk",
        )
    )
    assert receipt is not None and receipt.language == "da"
    [pdf] = [a for a in receipt.attachments if a.get("invoice_id") == invoice.id]
    assert pdf["content_type"] == "application/pdf" and pdf["filename"].endswith(".pdf")
    pdf_text = _pdf_text(attachment_data(pdf))
    assert invoice.number in pdf_text and "Netcompany A/S" in pdf_text
    assert "14814833" in pdf_text and TWO_PLACES_GROSS in pdf_text
    tickets = db.session.scalars(
        select(OutboxMessage.to_address).where(OutboxMessage.kind == "ticket")
    ).all()
    end_transaction()
    assert sorted(tickets) == ["konsulent1@netcompany.dk", "konsulent2@netcompany.dk"]


def test_booker_who_leaves_checkout_is_told_nothing_was_registered(
    live_server, page, edition, stripe_checkout
):
    slug = edition.slug
    end_transaction()
    _book_by_card(page, live_server, slug, places=3, booker="Jonas Berg", email="jb@netcompany.dk")
    page.wait_for_url(re.compile(re.escape(stripe_checkout.checkout_base) + r"/c/pay/cs_test_"))
    assert _taken(edition) == 3

    # Stripe's back link is the cancel link.
    page.get_by_role("link", name="Tilbage").click()
    page.wait_for_url(re.compile(r"/pay/cancel/"))
    assert page.locator("#payment-status").get_attribute("data-state") == "released"
    text = page.inner_text("main")
    assert "Kortbetalingen blev afbrudt" in text
    assert "Tilmeldingen er ikke gennemført, og der er ikke trukket noget beløb." in text

    session = stripe_checkout.only_session()
    assert stripe_checkout.expire_calls == [session["id"]]
    assert session["status"] == "expired"
    assert stripe_checkout.webhooks_sent == []
    assert _taken(edition) == 0
    order = db.session.scalar(select(Order))
    assert order.status == "expired"
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    end_transaction()

    # Going back to Checkout cannot pay for released places; registering again works.
    page.go_back()
    assert "no longer active" in page.inner_text("body")
    page.go_forward()
    page.get_by_role("link", name="Tilmeld igen").click()
    page.wait_for_url(re.compile(rf"/e/{slug}/register"))
    assert page.locator("#registration-form").is_visible()
