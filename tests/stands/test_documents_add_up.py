"""What the exhibitor, the organiser and accounting see agrees with the documents, to the øre,
and a hostile company name stays text in every one of them."""

from __future__ import annotations

from conference.backoffice.services import stands_overview
from conference.checkin.services import pass_ticket_pdf
from conference.core.db import db
from conference.invoicing.pdf import render_invoice_pdf
from conference.invoicing.services import stand_booking_invoices
from conference.invoicing.ubl import invoice_ubl
from conference.stands import services
from tests.checkin.test_pdfs import pdf_text
from tests.invoicing.peppol import assert_valid_peppol
from tests.mail.helpers import outbox
from tests.stands.conftest import addon_id, company_details, stand

HOSTILE = '=HYPERLINK("x")<b>Ærø & "Søn"</b>'


def _signed(documents) -> int:
    return sum(-d.total_ore if d.is_credit_note else d.total_ore for d in documents)


def test_invoices_extra_passes_and_credit_notes_add_up_everywhere(client, edition, hall):
    details = company_details(
        company=HOSTILE,
        ean="5798000000001",
        addons={addon_id(edition, "power"): 1, addon_id(edition, "furniture"): 3},
    )
    booked = services.book_stand(edition, stand(edition, "A3"), details)
    db.session.commit()
    booking = booked.booking
    person = services.name_staff(
        booking, services.StaffDetails(name="<i>Søren</i> & Co", email="soren@example.dk")
    )
    services.buy_extra_passes(booking, 2)
    db.session.commit()

    documents = stand_booking_invoices(booking)
    assert len(documents) == 2
    # The organiser's total for the booking is what the two invoices say.
    (line,) = stands_overview(edition).bookings
    assert line.amounts.gross_ore == _signed(documents)
    # The stand invoice is the booking's own total (VAT per rate on the total).
    assert documents[0].total_ore == services.booking_total(booking).gross_ore

    page = client.get(f"/s/{booked.token}?lang=en").get_data(as_text=True)
    assert HOSTILE not in page and "&lt;b&gt;Ærø &amp; &#34;Søn&#34;&lt;/b&gt;" in page
    for document in documents:
        assert f"{document.number}" in page
        xml = invoice_ubl(document)
        assert b"<b>" not in xml
        assert_valid_peppol(xml, f"{document.number}.xml")
        assert 'Ærø & "Søn"' in pdf_text(render_invoice_pdf(document))
    ticket = pdf_text(pass_ticket_pdf(person, "da"))
    assert "<i>Søren</i> & Co" in ticket and "Udstiller" in ticket
    for message in outbox():
        assert "<b>Ærø" not in (message.body_html or "")
        assert "<i>Søren" not in (message.body_html or "")

    cancelled = services.cancel_booking(booking, actor="staff:1", reason="Flyttet")
    db.session.commit()
    assert len(cancelled.credit_notes) == 2
    documents = stand_booking_invoices(booking)
    assert _signed(documents) == 0
    (line,) = stands_overview(edition).bookings
    assert line.amounts.gross_ore == 0 and line.amounts.net_ore == 0
    for note in cancelled.credit_notes:
        assert_valid_peppol(invoice_ubl(note), f"{note.number}.xml")
