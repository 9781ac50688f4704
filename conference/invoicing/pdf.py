"""The PDF of an invoice or credit note: rendered once with WeasyPrint, then stored.

Rendering is the expensive part (tens of milliseconds), so a document is
rendered the first time someone needs it and its bytes are kept in
``InvoiceFile``; downloads and mail attachments serve those bytes. An issued
document never changes, so neither does its PDF.

WeasyPrint may only read what we ship (see ``conference.core.pdf``, whose
font configuration and URL fetcher tickets and badges share).
"""

from __future__ import annotations

from decimal import Decimal

from flask import render_template
from flask_babel import force_locale, format_percent
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conference.core.db import db, utcnow
from conference.core.i18n import babel_locale
from conference.core.pdf import (  # noqa: F401 - FONT_CONFIG and the fetcher are this module's API too
    FONT_CONFIG,
    StaticOnlyFetcher,
    render_pdf,
    static_fetcher,
)
from conference.invoicing.models import Invoice, InvoiceFile

TEMPLATE = "invoicing/invoice_pdf.html"
STYLESHEET = "css/invoice_pdf.css"


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


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """Render the PDF of an issued invoice or credit note (A4, fonts subset)."""
    return render_pdf(invoice_html(invoice), STYLESHEET)


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
