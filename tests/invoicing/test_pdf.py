"""The invoice PDF: what a buyer must read is printed, in their language; it is rendered once."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from flask_babel import force_locale, format_date
from sqlalchemy import func, select
from sqlalchemy import text as sql
from weasyprint import HTML

from conference.core.db import db
from conference.invoicing.models import Invoice, InvoiceFile
from conference.invoicing.pdf import (
    FONT_CONFIG,
    StaticOnlyFetcher,
    invoice_html,
    render_invoice_pdf,
    static_fetcher,
    stored_pdf,
)
from conference.invoicing.services import InvoiceLine, issue_credit_note
from conference.registration.models import Order
from tests.conftest import postgres_only
from tests.invoicing.conftest import place_invoiced_order


def pdf_text(pdf: bytes) -> str:
    """The text a reader sees, one line per printed line, spaces collapsed."""
    assert pdf.startswith(b"%PDF-")
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return "\n".join(" ".join(line.split()) for line in out.splitlines())


def pdf_info(pdf: bytes, tool: str = "pdfinfo") -> str:
    return subprocess.run([tool, "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def long_date(value, language: str) -> str:
    with force_locale("da" if language == "da" else "en_GB"):
        return format_date(value, "long")


def test_danish_municipal_invoice_has_everything_the_buyer_must_read(public_invoice):
    invoice = public_invoice
    text = pdf_text(render_invoice_pdf(invoice))
    seller = invoice.seller

    assert "Faktura" in text
    assert invoice.number in text
    # Seller: name, address, CVR, e-mail.
    assert seller["name"] in text
    assert f"{seller['street']}" in text and f"{seller['postcode']} {seller['city']}" in text
    assert f"CVR-nummer {seller['cvr']}" in text
    assert seller["email"] in text
    # Buyer and the references a municipality routes the invoice by.
    assert "Aarhus Kommune, Digitalisering" in text
    assert "Rådhuspladsen 2" in text and "8000 Aarhus C" in text
    assert "EAN-nummer 5798000000001" in text
    assert "CVR-nummer 55133018" in text
    assert "Personreference HJ-4711" in text
    assert "Ordrenummer PO-2026-17" in text
    assert "Kontostreng 1234-5678-90" in text
    assert invoice.our_reference in text
    # Dates, the Danish way.
    assert long_date(invoice.issued_on, "da") in text
    assert long_date(invoice.supplied_on, "da") in text
    assert long_date(invoice.due_on, "da") in text
    # The line, net, VAT and total in Danish kroner.
    assert "2.575,00 kr." in text
    assert "7.725,00 kr." in text
    assert "1.931,25 kr." in text
    assert "I alt inkl. moms 9.656,25 kr." in text
    assert "25 %" in text
    # How to pay.
    assert f"{seller['bank_reg']} {seller['bank_account']}" in text
    assert seller["iban"] in text and seller["bic"] in text
    assert "Deltagere: Kollega 1, Kollega 2, Kollega 3" in text
    assert "Side 1 af 1" in text


def test_english_company_invoice_is_in_english(company_invoice):
    invoice = company_invoice
    text = pdf_text(render_invoice_pdf(invoice))
    assert "Invoice" in text and "Faktura" not in text
    assert "Netcompany A/S" in text
    assert "CVR number 14814833" in text
    assert "EAN" not in text
    assert "Total incl. VAT DKK 3,218.75" in text
    assert "DKK 2,575.00" in text and "DKK 643.75" in text
    assert "25%" in text
    assert f"Due date {long_date(invoice.due_on, 'en')}" in text
    assert f"Please pay DKK 3,218.75 by {long_date(invoice.due_on, 'en')}" in text
    assert f"Payment reference {invoice.number}" in text
    assert "Participants: Kollega 1" in text
    assert "Page 1 of 1" in text


def test_card_paid_invoice_says_paid_and_asks_for_nothing(card_invoice):
    text = pdf_text(render_invoice_pdf(card_invoice))
    assert "Paid by card" in text
    assert "DKK 6,437.50" in text
    assert "Please pay" not in text
    assert "Due date" not in text
    assert card_invoice.seller["iban"] not in text


def test_credit_note_names_the_invoice_it_credits_and_asks_for_no_payment(
    public_invoice, partial_credit_note
):
    text = pdf_text(render_invoice_pdf(partial_credit_note))
    assert partial_credit_note.number in text
    assert public_invoice.number in text
    assert long_date(public_invoice.issued_on, "da") in text
    assert "3.218,75 kr." in text
    assert "9.656,25 kr." not in text
    assert public_invoice.seller["iban"] not in text


def test_english_full_credit_note(company_invoice, full_credit_note):
    text = pdf_text(render_invoice_pdf(full_credit_note))
    assert "Credit note" in text
    assert (
        f"This credit note credits invoice {company_invoice.number} of "
        f"{long_date(company_invoice.issued_on, 'en')}."
    ) in text
    assert "Total credited incl. VAT DKK 3,218.75" in text
    assert "The order was cancelled." in text
    assert "Please pay" not in text


def test_pdf_is_a4_with_subset_embedded_fonts(public_invoice):
    pdf = render_invoice_pdf(public_invoice)
    assert "(A4)" in pdf_info(pdf)
    fonts = pdf_info(pdf, "pdffonts").splitlines()[2:]
    assert fonts
    for font in fonts:
        name, *_, embedded, subset, _unicode, _object, _generation = font.split()
        assert "DejaVu" in name
        assert (embedded, subset) == ("yes", "yes")


def test_what_buyers_type_is_printed_as_text_not_markup(edition):
    _, invoice = place_invoiced_order(
        edition,
        1,
        invoice_organisation="<b>Bold</b> & Co",
        invoice_address='<img src="http://127.0.0.1:9/tracker.png">Vej 1',
    )
    html = invoice_html(invoice)
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html
    assert "<img" not in html
    text = pdf_text(render_invoice_pdf(invoice))
    assert "<b>Bold</b> & Co" in text
    assert '<img src="http://127.0.0.1:9/tracker.png">Vej 1' in text


def test_long_document_breaks_onto_pages_with_footer_on_each(public_invoice):
    order = db.session.get(Order, public_invoice.order_id)
    lines = [InvoiceLine(f"Line {n}", 1, 100, 25) for n in range(1, 61)]
    note = issue_credit_note(public_invoice, lines, order=order, reason="")
    db.session.commit()
    pdf = render_invoice_pdf(note)
    text = pdf_text(pdf)
    assert "Line 1" in text and "Line 60" in text
    pages = int(pdf_info(pdf).split("Pages:")[1].split()[0])
    assert pages > 1
    for page in range(1, pages + 1):
        assert f"Side {page} af {pages}" in text
    # The column heads repeat on every page the lines run over.
    assert text.count("BESKRIVELSE") == pages


# --- the URL fetcher ------------------------------------------------------------------


@pytest.fixture
def fetcher(app):
    return static_fetcher()


def test_fetcher_serves_data_uris_and_static_files(fetcher, app):
    response = fetcher.fetch("data:text/plain;base64,aGVq")
    assert response.read() == b"hej"
    response = fetcher.fetch(fetcher.base_url + "css/invoice_pdf.css")
    assert response.content_type == "text/css"
    assert b"@page" in response.read()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.png",
        "https://example.com/x.css",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "file://otherhost/static/css/invoice_pdf.css",
        "STATIC/../../config/settings.py",
        "STATIC/css/%2E%2E/%2E%2E/pyproject.toml",
        "STATIC/css",
        "STATIC/css/does-not-exist.css",
        "javascript:alert(1)",
    ],
)
def test_fetcher_refuses_everything_else(fetcher, url):
    url = url.replace("STATIC/", fetcher.base_url)
    with pytest.raises(ValueError):
        fetcher.fetch(url)


def test_fetcher_refuses_a_symlink_out_of_the_static_folder(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (static / "link.txt").symlink_to(secret)
    (static / "ok.txt").write_text("ok")
    fetcher = StaticOnlyFetcher(static)
    assert fetcher.fetch(fetcher.base_url + "ok.txt").read() == b"ok"
    with pytest.raises(ValueError):
        fetcher.fetch(fetcher.base_url + "link.txt")


def test_rendering_html_that_points_outside_fetches_nothing(fetcher, httpserver):
    httpserver.expect_request("/tracker.png").respond_with_data(b"GIF89a", content_type="image/gif")
    html = (
        f'<img src="{httpserver.url_for("/tracker.png")}">'
        f'<link rel="stylesheet" href="{httpserver.url_for("/x.css")}">'
        '<img src="file:///etc/hostname">'
    )
    pdf = HTML(string=html, base_url=fetcher.base_url, url_fetcher=fetcher).write_pdf(
        font_config=FONT_CONFIG
    )
    assert pdf.startswith(b"%PDF-")
    assert httpserver.log == []


#: Every way an HTML document can make WeasyPrint load something; {u} is the address.
REFERENCES = {
    "img": '<img src="{u}">',
    "object": '<object data="{u}"></object>',
    "embed": '<embed src="{u}">',
    "svg image": (
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="60">'
        '<image href="{u}" width="300" height="60"/></svg>'
    ),
    "css background": '<div style="background: url({u}); width: 300px; height: 60px"></div>',
    "stylesheet": '<link rel="stylesheet" href="{u}"><p>t</p>',
    "css import": '<style>@import url("{u}");</style><p>t</p>',
    "attachment": '<a rel="attachment" href="{u}">file</a>',
    "link attachment": '<link rel="attachment" href="{u}">',
}
MARKER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="50">'
    '<text x="0" y="30" font-size="20">MARKER-{where}</text></svg>'
)


class RecordingFetcher(StaticOnlyFetcher):
    """The app's fetcher, noting what it was asked for and what it served."""

    def __init__(self, static_folder) -> None:
        super().__init__(static_folder)
        self.asked: list[str] = []
        self.served: list[str] = []

    def fetch(self, url, headers=None):
        self.asked.append(url)
        response = super().fetch(url, headers)
        self.served.append(url)
        return response


@pytest.mark.parametrize("kind", sorted(REFERENCES))
def test_no_kind_of_reference_reads_a_local_file_or_fetches_a_url(kind, tmp_path, httpserver):
    from weasyprint.urls import path2url

    static = tmp_path / "static"
    static.mkdir()
    is_css = kind in ("stylesheet", "css import")
    name = "x.css" if is_css else "x.svg"
    inside = "p::after { content: 'MARKER-INSIDE' }" if is_css else MARKER_SVG.format(where="IN")
    outside = "p::after { content: 'MARKER-OUTSIDE' }" if is_css else MARKER_SVG.format(where="OUT")
    (static / name).write_text(inside)
    (tmp_path / name).write_text(outside)
    httpserver.expect_request(f"/{name}").respond_with_data(outside)
    template = REFERENCES[kind]

    def render(url: str) -> tuple[RecordingFetcher, str, bytes]:
        fetcher = RecordingFetcher(static)
        html = template.format(u=url)
        pdf = HTML(string=html, base_url=fetcher.base_url, url_fetcher=fetcher).write_pdf(
            font_config=FONT_CONFIG
        )
        return fetcher, pdf_text(pdf), pdf

    # Our own static file: the reference is really followed (the check below can see it).
    fetcher, _text, _pdf = render(RecordingFetcher(static).base_url + name)
    assert fetcher.served, f"{kind}: WeasyPrint did not follow the reference at all"
    # A local file elsewhere, by absolute URL and by a path climbing out; a web address.
    for url in (
        path2url(str(tmp_path / name)),
        f"../{name}",
        f"{RecordingFetcher(static).base_url}%2E%2E/{name}",
        httpserver.url_for(f"/{name}"),
    ):
        fetcher, text, pdf = render(url)
        assert fetcher.asked and not fetcher.served, (kind, url, fetcher.served)
        assert "OUT" not in text and b"MARKER-OUT" not in pdf, (kind, url)
    assert httpserver.log == []


# --- stored once ----------------------------------------------------------------------


def stored_files(invoice_id: int) -> list[InvoiceFile]:
    return db.session.scalars(select(InvoiceFile).where(InvoiceFile.invoice_id == invoice_id)).all()


def test_stored_pdf_renders_once_and_then_serves_the_stored_bytes(public_invoice):
    assert stored_files(public_invoice.id) == []
    first = stored_pdf(public_invoice)
    db.session.commit()
    [row] = stored_files(public_invoice.id)
    rendered_at = row.rendered_at
    assert row.pdf == first
    assert "9.656,25 kr." in pdf_text(first)

    second = stored_pdf(public_invoice)
    db.session.commit()
    assert second == first
    [row] = stored_files(public_invoice.id)
    assert row.rendered_at == rendered_at
    assert db.session.scalar(select(func.count()).select_from(InvoiceFile)) == 1


def test_stored_pdf_serves_what_is_stored_without_rendering(company_invoice):
    # Whatever is stored is what was sent: downloads never re-render it.
    db.session.add(InvoiceFile(invoice_id=company_invoice.id, pdf=b"%PDF-as-sent"))
    db.session.commit()
    assert stored_pdf(company_invoice) == b"%PDF-as-sent"


@postgres_only
def test_two_first_downloads_at_once_store_one_pdf_and_serve_the_same_bytes(app, public_invoice):
    invoice_id = public_invoice.id
    first_inserted = threading.Event()
    release_first = threading.Event()
    results: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def download(name: str, hold: bool) -> None:
        try:
            with app.app_context():
                results[name] = stored_pdf(db.session.get(Invoice, invoice_id))
                if hold:
                    # Keep the inserted row uncommitted until the other request waits on it.
                    first_inserted.set()
                    release_first.wait(timeout=60)
                db.session.commit()
                db.session.remove()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    first = threading.Thread(target=download, args=("first", True))
    first.start()
    assert first_inserted.wait(timeout=60)
    second = threading.Thread(target=download, args=("second", False))
    second.start()
    # The second request rendered too and now waits on the first one's row.
    waiting = sql(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    second_waited = False
    for _ in range(1200):
        second_waited = bool(db.session.execute(waiting).scalar())
        db.session.rollback()
        if second_waited or not second.is_alive():
            break
        time.sleep(0.05)
    release_first.set()
    first.join(timeout=60)
    second.join(timeout=60)

    assert not errors
    assert second_waited
    db.session.expire_all()
    [row] = stored_files(invoice_id)
    assert results["first"] == results["second"] == row.pdf


def test_document_is_in_its_own_language_whatever_the_page_language(app, public_invoice):
    # An English-speaking accountant downloads a Danish municipality's invoice.
    with app.test_request_context("/?lang=en"):
        text = pdf_text(render_invoice_pdf(public_invoice))
    assert "Faktura" in text and "I alt inkl. moms 9.656,25 kr." in text
    assert "Total incl. VAT" not in text
