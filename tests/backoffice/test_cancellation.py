"""An organiser cancels a whole order or one place: credit notes, freed places, e-mails."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from conference.core.db import db
from conference.events.models import Quota
from conference.invoicing.models import Invoice
from conference.invoicing.services import document_status, invoice_for_order
from conference.registration.models import Attendee, Order, WaitingListEntry, WaitingStatus
from conference.registration.services import join_waiting_list, place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details
from tests.mail.helpers import outbox


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


def _order(edition, count=3, **overrides) -> Order:
    placed = place_order(edition, booking_details(edition, count, **overrides))
    db.session.commit()
    return placed.order


def _taken(edition) -> int:
    return db.session.scalar(select(Quota.taken).where(Quota.id == edition.quotas[0].id))


def _credit_notes() -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice).where(Invoice.kind == "credit_note").order_by(Invoice.id)
        )
    )


def _cancel(client, order, **data):
    form = {"confirm": "y", "reason": "Dobbeltregistrering"}
    if "attendee_id" in data and "version" not in data:
        # What the page sends: the place's version as the organiser saw it.
        attendee = db.session.get(Attendee, int(data["attendee_id"]))
        form["version"] = str(attendee.ticket_version)
    form.update(data)
    return client.post(f"/staff/e/{order.edition.slug}/orders/{order.reference}/cancel", data=form)


def test_order_page_shows_places_invoice_and_cancel_forms(organiser, edition):
    order = _order(edition)
    page = organiser.get(f"/staff/e/{edition.slug}/orders/{order.reference}").get_data(as_text=True)
    invoice = invoice_for_order(order)
    assert order.reference in page and invoice.number in page
    assert page.count("Cancel this place") == 3
    assert "Cancel the whole order" in page


def test_cancelling_one_place_issues_a_partial_credit_note_and_frees_the_place(organiser, edition):
    order = _order(edition, 3)
    attendee = order.attendees[1]
    assert _taken(edition) == 3

    response = _cancel(organiser, order, attendee_id=str(attendee.id))
    assert response.status_code == 302
    page = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 place was cancelled" in page and "Credit note K" in page

    db.session.expire_all()
    assert db.session.get(Attendee, attendee.id).status == "cancelled"
    assert db.session.get(Order, order.id).status == "confirmed"
    assert _taken(edition) == 2
    (note,) = _credit_notes()
    invoice = invoice_for_order(order)
    assert note.credited_invoice_id == invoice.id
    assert note.lines[0]["quantity"] == 1
    assert note.total_ore == 321_875  # one place, 2.575,00 + 25 % VAT
    assert note.lines[0]["description"] == invoice.lines[0]["description"]
    assert document_status(invoice) == "unpaid"

    (to_booker,) = outbox("order_cancelled")
    assert to_booker.to_address == order.booker_email
    assert note.number in to_booker.body_text and "Dobbeltregistrering" in to_booker.body_text
    (pdf,) = to_booker.attachments
    assert pdf["invoice_id"] == note.id
    (to_attendee,) = outbox("place_cancelled")
    assert to_attendee.to_address == attendee.email


def test_cancelling_the_rest_credits_exactly_what_is_left(organiser, edition):
    order = _order(edition, 3)
    _cancel(organiser, order, attendee_id=str(order.attendees[0].id))
    response = _cancel(organiser, order)
    assert response.status_code == 302

    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "cancelled"
    assert _taken(edition) == 0
    first, second = _credit_notes()
    invoice = invoice_for_order(order)
    assert second.lines[0]["quantity"] == 2
    assert first.total_ore + second.total_ore == invoice.total_ore
    assert document_status(invoice) == "credited"
    assert first.number != second.number


def test_places_cancelled_one_by_one_credit_the_invoice_to_the_ore(organiser, edition):
    # 25 % of 999,99 kr. is 249,9975 kr.: rounded per note, four notes would take
    # back 1.000,00 kr. of VAT against the invoice's 999,99 kr.
    edition.ticket_types[0].price_net_ore = 99_999
    db.session.commit()
    order = _order(edition, 4)
    invoice = invoice_for_order(order)
    assert invoice.vat_ore == 99_999
    for attendee in order.attendees[:3]:
        assert _cancel(organiser, order, attendee_id=str(attendee.id)).status_code == 302
    assert _cancel(organiser, order).status_code == 302

    db.session.expire_all()
    notes = _credit_notes()
    assert len(notes) == 4
    assert sum(n.net_ore for n in notes) == invoice.net_ore
    assert sum(n.vat_ore for n in notes) == invoice.vat_ore
    assert sum(n.total_ore for n in notes) == invoice.total_ore
    for note in notes:
        assert note.total_ore == note.net_ore + note.vat_ore
        assert abs(note.vat_ore * 4 - note.net_ore) <= 4  # within an øre of 25 %
    assert document_status(invoice) == "credited"
    assert db.session.get(Order, order.id).status == "cancelled"
    assert _taken(edition) == 0


def test_cancelling_a_whole_order_at_once_credits_every_line(organiser, edition):
    order = _order(edition, 2)
    _cancel(organiser, order)
    (note,) = _credit_notes()
    invoice = invoice_for_order(order)
    assert note.lines == invoice.lines
    assert (note.net_ore, note.vat_ore, note.total_ore) == (
        invoice.net_ore,
        invoice.vat_ore,
        invoice.total_ore,
    )


def test_without_the_confirmation_tick_nothing_changes(organiser, edition):
    order = _order(edition, 2)
    response = _cancel(organiser, order, confirm="")
    assert response.status_code == 422
    assert "Tick the box to confirm the cancellation." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "confirmed"
    assert _credit_notes() == [] and _taken(edition) == 2


def test_a_place_cannot_be_cancelled_twice(organiser, edition):
    order = _order(edition, 2)
    attendee_id = str(order.attendees[0].id)
    _cancel(organiser, order, attendee_id=attendee_id)
    response = _cancel(organiser, order, attendee_id=attendee_id)
    assert response.status_code == 409
    assert "already cancelled" in response.get_data(as_text=True)
    assert len(_credit_notes()) == 1 and _taken(edition) == 1


def test_an_attendee_of_another_order_is_refused(organiser, edition):
    order = _order(edition, 2)
    other = _order(edition, 1, booker_email="other@kolding.dk")
    response = _cancel(organiser, order, attendee_id=str(other.attendees[0].id))
    assert response.status_code == 404
    assert _credit_notes() == [] and _taken(edition) == 3


def test_freed_places_go_to_the_waiting_list(organiser, small_edition):
    order = _order(small_edition, 5)
    join_waiting_list(small_edition, booking_details(small_edition, 1, booker_email="w@odense.dk"))
    db.session.commit()
    _cancel(organiser, order, attendee_id=str(order.attendees[0].id))
    db.session.expire_all()
    entry = db.session.scalar(select(WaitingListEntry))
    assert entry.status == WaitingStatus.OFFERED
    assert _taken(small_edition) == 5  # four kept, one held for the offer


def test_a_free_order_is_cancelled_without_a_credit_note(organiser, edition):
    speaker_type = next(t for t in edition.ticket_types if t.access_code == "TALER2027")
    order = _order(edition, 1, ticket_type_id=speaker_type.id, access_code="TALER2027")
    assert invoice_for_order(order) is None
    _cancel(organiser, order)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "cancelled"
    assert _credit_notes() == []
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


@pytest.mark.parametrize("role", ["accounting", "checkin"])
def test_only_organisers_cancel(client, edition, role):
    order = _order(edition, 1)
    make_staff(f"{role}@example.dk", role)
    log_in(client, f"{role}@example.dk")
    assert client.get(f"/staff/e/{edition.slug}/orders/{order.reference}").status_code == 403
    assert _cancel(client, order).status_code == 403
    assert _credit_notes() == []


def test_the_place_form_carries_the_places_version(organiser, edition):
    order = _order(edition, 2)
    page = organiser.get(f"/staff/e/{edition.slug}/orders/{order.reference}").get_data(as_text=True)
    for attendee in order.attendees:
        assert re.search(
            rf'name="attendee_id" value="{attendee.id}">\s*'
            rf'<input type="hidden" name="version" value="{attendee.ticket_version}">',
            page,
        )


def test_a_place_that_changed_hands_since_the_page_was_opened_is_not_cancelled(organiser, edition):
    from conference.transfers.services import Colleague, organiser_transfer

    order = _order(edition, 2)
    attendee = order.attendees[0]
    seen = attendee.ticket_version  # the organiser opens the order page
    organiser_transfer(
        attendee, Colleague("Ny Holder", "ny@aarhus.dk"), expected_version=seen, actor="staff:9"
    )
    db.session.commit()
    response = _cancel(organiser, order, attendee_id=str(attendee.id), version=str(seen))
    assert response.status_code == 409
    assert "changed hands since you opened the page; look again" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Attendee, attendee.id).status == "confirmed"
    assert _credit_notes() == [] and _taken(edition) == 2
    assert [m for m in outbox() if m.kind == "place_cancelled"] == []
    # Looking again (the current version) cancels the new holder's place and tells them.
    response = _cancel(organiser, order, attendee_id=str(attendee.id))
    assert response.status_code == 302
    assert [m.to_address for m in outbox() if m.kind == "place_cancelled"] == ["ny@aarhus.dk"]


def test_a_place_form_without_the_version_cancels_nothing(organiser, edition):
    order = _order(edition, 2)
    form = {"confirm": "y", "attendee_id": str(order.attendees[0].id)}
    response = organiser.post(f"/staff/e/{edition.slug}/orders/{order.reference}/cancel", data=form)
    assert response.status_code == 422
    assert _credit_notes() == [] and _taken(edition) == 2


def test_the_cancel_box_of_a_free_order_promises_no_credit_note(organiser, edition):
    speaker = edition.ticket_types[1]
    order = _order(edition, 1, ticket_type_id=speaker.id, access_code="TALER2027")
    assert invoice_for_order(order) is None
    page = organiser.get(f"/staff/e/{edition.slug}/orders/{order.reference}?lang=da").get_data(
        as_text=True
    )
    label = re.search(r'<label for="confirm-order">([^<]+)</label>', page).group(1)
    assert label == "Ja, annullér. Det kan ikke fortrydes."
    assert "kreditnota" not in label

    assert _cancel(organiser, order).status_code == 302
    assert _credit_notes() == []
    assert db.session.get(Order, order.id).status == "cancelled"
