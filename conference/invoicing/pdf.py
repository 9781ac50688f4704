"""The PDF of an invoice or credit note: rendered once with WeasyPrint, then stored.

Rendering is the expensive part (tens of milliseconds), so a document is
rendered the first time someone needs it and its bytes are kept in
``InvoiceFile``; downloads and mail attachments serve those bytes. An issued
document never changes, so neither does its PDF.

WeasyPrint may only read what we ship: ``data:`` URIs and files inside the
app's static folder. Everything printed on an invoice is text typed by buyers
and organisers, and an HTML invoice must never make the server fetch a URL or
read a file on its behalf.
"""

from __future__ import annotations

import mimetypes
import threading
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template
from flask_babel import force_locale, format_percent
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse, path2url

from conference.core.db import db, utcnow
from conference.core.i18n import babel_locale
from conference.invoicing.models import Invoice, InvoiceFile

TEMPLATE = "invoicing/invoice_pdf.html"
STYLESHEET = "css/invoice_pdf.css"

# Building a FontConfiguration asks Fontconfig for every installed font: done
# once per process, not once per invoice.
FONT_CONFIG = FontConfiguration()

# The shared font configuration holds one Pango font map, and Pango font maps
# are not safe to use from two threads at once (gunicorn runs gthread workers).
# Renders are rare (once per document), so taking turns costs nothing.
_RENDER_LOCK = threading.Lock()


class StaticOnlyFetcher(URLFetcher):
    """Fetches ``data:`` URIs and files under one folder; refuses everything else.

    WeasyPrint catches the ``ValueError`` of a refused URL, logs it and renders
    the document without that resource.
    """

    def __init__(self, static_folder: str | Path) -> None:
        super().__init__(allowed_protocols={"data"}, allow_redirects=False, timeout=1)
        self.static_folder = Path(static_folder).resolve()
        self.base_url = path2url(str(self.static_folder) + "/")

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            return self._static_file(url)
        raise ValueError(f"only data: URIs and static files may be fetched, not {url[:80]!r}")

    def _static_file(self, url: str) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"not a local file: {url[:80]!r}")
        # resolve() follows "..", symlinks included, before the containment check.
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.static_folder) or not path.is_file():
            raise ValueError(f"not a static file: {url[:80]!r}")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(
            path2url(str(path)), path.read_bytes(), headers={"Content-Type": media_type}
        )


def static_fetcher() -> StaticOnlyFetcher:
    return StaticOnlyFetcher(current_app.static_folder)


def _page_of_pages() -> Markup:
    """ "Side 1 af 2" for the footer, with the numbers left to CSS page counters."""
    # Without variables gettext returns the catalogue's text unformatted.
    text = str(escape(_("Page %(page)d of %(pages)d")))
    text = text.replace("%(page)d", '<span class="page-number"></span>')
    return Markup(text.replace("%(pages)d", '<span class="page-count"></span>'))  # noqa: S704


def _vat_rate(percent: int) -> str:
    """ "25 %" in Danish, "25%" in English."""
    return format_percent(Decimal(percent) / 100)


def invoice_html(invoice: Invoice) -> str:
    """The document as HTML, in its own language (the language of the order)."""
    with force_locale(babel_locale(invoice.language)):
        return render_template(
            TEMPLATE,
            invoice=invoice,
            page_of_pages=_page_of_pages(),
            vat_rate=_vat_rate,
            seller=invoice.seller,
            credited=invoice.credited_invoice if invoice.is_credit_note else None,
            paid_by_card=invoice.payment_method == "card",
            language=invoice.language,
        )


# Parsed once per static folder: parsing the stylesheet is a tenth of a render.
_stylesheets: dict[Path, CSS] = {}


def _stylesheet(fetcher: StaticOnlyFetcher) -> CSS:
    stylesheet = _stylesheets.get(fetcher.static_folder)
    if stylesheet is None:
        stylesheet = CSS(
            url=fetcher.base_url + STYLESHEET, url_fetcher=fetcher, font_config=FONT_CONFIG
        )
        _stylesheets[fetcher.static_folder] = stylesheet
    return stylesheet


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """Render the PDF of an issued invoice or credit note (A4, fonts subset)."""
    html = invoice_html(invoice)
    fetcher = static_fetcher()
    with _RENDER_LOCK:
        document = HTML(string=html, base_url=fetcher.base_url, url_fetcher=fetcher)
        return document.write_pdf(stylesheets=[_stylesheet(fetcher)], font_config=FONT_CONFIG)


def stored_pdf(invoice: Invoice) -> bytes:
    """The document's PDF: the stored bytes, or rendered now and stored for next time.

    Two requests may render the same new document at once; the first insert
    wins and the other is dropped, so both serve the stored bytes afterwards.
    The caller commits.
    """
    stored = db.session.scalar(select(InvoiceFile.pdf).where(InvoiceFile.invoice_id == invoice.id))
    if stored is not None:
        return stored
    pdf = render_invoice_pdf(invoice)
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(
        insert(InvoiceFile)
        .values(invoice_id=invoice.id, pdf=pdf, rendered_at=utcnow())
        .on_conflict_do_nothing(index_elements=["invoice_id"])
    )
    # Serve what is stored: the concurrent winner's bytes if it got there first.
    stored = db.session.scalar(select(InvoiceFile.pdf).where(InvoiceFile.invoice_id == invoice.id))
    return stored if stored is not None else pdf
