"""The organiser's registrant tools: finding an order by its documents, editing a
place's and the booker's details, registering on someone's behalf."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conference.core.db import db, utcnow
from conference.core.models import AuditEvent
from conference.events.models import Quota
from conference.invoicing.models import Invoice
from conference.invoicing.services import invoice_for_order
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee, Order
from conference.registration.services import cancel_order, place_order
from tests.auth.helpers import log_in, make_staff
from tests.conftest import booking_details, booking_form, csrf_token_from


@pytest.fixture
def organiser(client):
    make_staff()
    log_in(client, "organiser@example.dk")
    return client


def _order(edition, count=2, **overrides) -> Order:
    placed = place_order(edition, booking_details(edition, count, **overrides))
    db.session.commit()
    return placed.order


def _order_url(order) -> str:
    return f"/staff/e/{order.edition.slug}/orders/{order.reference}"


def _audits(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _text(response) -> str:
    return response.get_data(as_text=True)


# --- finding an order by its invoice or credit note number -------------------------


def test_an_invoice_number_finds_its_order(organiser, edition):
    order = _order(edition, organisation="Vejle Kommune")
    _order(edition, booker_email="x@odense.dk", organisation="Odense Kommune")
    number = invoice_for_order(order).number
    page = _text(organiser.get(f"/staff/e/{edition.slug}/registrants", query_string={"q": number}))
    assert "2 places match" in page and "Vejle Kommune" in page
    assert "<td>Odense Kommune</td>" not in page and "<td>Vejle Kommune</td>" in page
    assert f"Invoice {number}" in page and f"/orders/{order.reference}" in page


def test_a_credit_note_number_finds_a_cancelled_order(organiser, edition):
    order = _order(edition, organisation="Vejle Kommune")
    result = cancel_order(order, actor="test", reason="Dobbelt")
    db.session.commit()
    number = result.credit_note.number
    page = _text(
        organiser.get(f"/staff/e/{edition.slug}/registrants", query_string={"q": number.lower()})
    )
    # The list shows confirmed places only; the document's order is linked above it.
    assert f"Credit note {number}" in page and "(cancelled)" in page
    assert f"/orders/{order.reference}" in page


# --- editing an attendee's details -----------------------------------------------


def _edit(client, attendee, **fields):
    data = {
        "version": str(attendee.ticket_version),
        "name": attendee.name,
        "email": attendee.email,
        "job_title": attendee.job_title,
        "dietary": attendee.dietary,
    }
    data.update(fields)
    prefixed = {f"p{attendee.id}-{key}": value for key, value in data.items()}
    return client.post(f"{_order_url(attendee.order)}/places/{attendee.id}/edit", data=prefixed)


def test_organiser_corrects_an_attendee_and_the_edit_is_audited(organiser, edition):
    order = _order(edition)
    attendee = order.attendees[0]
    code, invoice = attendee.ticket_code, invoice_for_order(order)
    invoice_note = invoice.note
    response = _edit(
        organiser, attendee, name="Kollega Et Rettet", dietary="Vegetar", job_title="Chef"
    )
    assert response.status_code == 303
    page = _text(organiser.get(response.headers["Location"]))
    assert "The details of Kollega Et Rettet are saved." in page
    assert "Dietary needs: Vegetar" in page

    db.session.expire_all()
    attendee = db.session.get(Attendee, attendee.id)
    assert (attendee.name, attendee.dietary, attendee.job_title) == (
        "Kollega Et Rettet",
        "Vegetar",
        "Chef",
    )
    assert attendee.ticket_code == code  # a correction: the ticket stays valid
    (audit,) = _audits("attendee.edited")
    assert audit.actor.startswith("staff:") and audit.object_id == attendee.id
    assert audit.data["before"] == {
        "name": "Kollega 1",
        "job_title": "Digitaliseringskonsulent",
        "dietary": "",
    }
    assert audit.data["after"] == {
        "name": "Kollega Et Rettet",
        "job_title": "Chef",
        "dietary": "Vegetar",
    }
    # The issued invoice is a snapshot: never changed, and the page says so.
    assert db.session.get(Invoice, invoice.id).note == invoice_note
    assert "Kollega 1" in invoice_note
    assert f"Invoice {invoice.number} shows participants" in page
    assert "An issued invoice is never changed" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "  "}, "name", "This field is required."),
        ({"email": "not-an-address"}, "email", "Enter a valid e-mail address."),
        ({"email": "KOLLEGA2@aarhus.dk"}, "email", "already has this e-mail address"),
        ({"dietary": "x" * 301}, "dietary", "at most 300 characters"),
    ],
)
def test_bad_attendee_details_are_refused_next_to_the_field(
    organiser, edition, fields, field, message
):
    order = _order(edition)
    attendee = order.attendees[0]
    response = _edit(organiser, attendee, **fields)
    assert response.status_code == 422
    page = _text(response)
    # The message sits in the field's own block, in the open edit form.
    block = re.search(
        rf'<div class="field field-invalid">\s*<label for="p{attendee.id}-{field}">.*?</div>',
        page,
        re.S,
    )
    assert block and message in block.group(0), page[:200]
    assert f'id="edit-{attendee.id}" open' in page
    db.session.expire_all()
    assert db.session.get(Attendee, attendee.id).name == "Kollega 1"
    assert db.session.get(Attendee, attendee.id).email == "kollega1@aarhus.dk"
    assert _audits("attendee.edited") == []


def test_an_edit_from_before_a_transfer_is_refused(organiser, edition):
    from conference.transfers.services import Colleague, organiser_transfer

    order = _order(edition)
    attendee = order.attendees[0]
    seen_version = attendee.ticket_version
    organiser_transfer(
        attendee,
        Colleague("Ny Kollega", "ny@aarhus.dk"),
        expected_version=seen_version,
        actor="test",
    )
    db.session.commit()
    response = _edit(
        organiser, attendee, version=str(seen_version), name="Gammel Rettelse", email="a@b.dk"
    )
    assert response.status_code == 409
    assert "changed hands" in _text(response)
    db.session.expire_all()
    assert db.session.get(Attendee, attendee.id).name == "Ny Kollega"


def test_the_booker_contact_details_are_edited_and_audited(organiser, edition):
    order = _order(edition)
    invoice = invoice_for_order(order)
    response = organiser.post(
        f"{_order_url(order)}/booker",
        data={"name": "Hanne Jensen-Berg", "email": "hjb@aarhus.dk", "phone": "+45 11 22 33 44"},
    )
    assert response.status_code == 303
    page = html.unescape(_text(organiser.get(response.headers["Location"])))
    assert "The booker's contact details are saved." in page
    assert "shows the booker's name, the booker's e-mail as they were" in page
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert (order.booker_name, order.booker_email, order.booker_phone) == (
        "Hanne Jensen-Berg",
        "hjb@aarhus.dk",
        "+45 11 22 33 44",
    )
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.buyer_contact, invoice.buyer_email) == ("Hanne Jensen", "hanne@aarhus.dk")
    (audit,) = _audits("order.booker_edited")
    assert audit.data["before"]["booker_email"] == "hanne@aarhus.dk"
    assert audit.data["after"]["booker_email"] == "hjb@aarhus.dk"


def test_bad_booker_details_change_nothing(organiser, edition):
    order = _order(edition)
    response = organiser.post(
        f"{_order_url(order)}/booker", data={"name": "", "email": "nope", "phone": "1"}
    )
    assert response.status_code == 422
    page = _text(response)
    assert 'id="edit-booker" open' in page
    assert "This field is required." in page and "Enter a valid e-mail address." in page
    db.session.expire_all()
    assert db.session.get(Order, order.id).booker_name == "Hanne Jensen"
    assert _audits("order.booker_edited") == []


def test_editing_in_danish(organiser, edition):
    order = _order(edition)
    organiser.get("/staff/?lang=da")
    response = _edit(organiser, order.attendees[0], name="", email="ikke-en-adresse")
    assert response.status_code == 422
    page = _text(response)
    assert "Feltet skal udfyldes." in page and "Rediger oplysninger" in page


# --- registering on someone's behalf ----------------------------------------------


def _register(client, edition, **overrides):
    form = {"channel": "phone", "language": "da", **booking_form(edition, 2), **overrides}
    return client.post(f"/staff/e/{edition.slug}/register", data=form)


def test_organiser_registers_on_behalf_after_the_public_closing(organiser, client, edition):
    edition.registration_closes_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    # The public form is closed ...
    assert client.get(f"/e/{edition.slug}/register").status_code == 200
    page = _text(organiser.get(f"/staff/e/{edition.slug}/register"))
    assert "The public registration is closed now" in page
    csrf_token_from(page)

    response = _register(organiser, edition, channel="email")
    assert response.status_code == 303, _text(response)[:500]
    db.session.expire_all()
    order = db.session.scalar(select(Order))
    assert response.headers["Location"].endswith(f"/orders/{order.reference}")
    assert len(order.attendees) == 2 and order.status == "confirmed"
    assert invoice_for_order(order) is not None
    assert db.session.scalar(select(Quota.taken)) == 2
    (placed,) = _audits("order.placed")
    assert placed.actor.startswith("staff:")
    (behalf,) = _audits("order.registered_on_behalf")
    assert behalf.data["channel"] == "email" and behalf.actor == placed.actor
    kinds = sorted(m.kind for m in db.session.scalars(select(OutboxMessage)))
    assert kinds == ["order_confirmation", "ticket", "ticket"]
    page = _text(organiser.get(response.headers["Location"]))
    assert "is registered" in page


def test_registering_on_behalf_never_oversells(organiser, small_edition):
    edition = small_edition
    _order(edition, 4)
    response = _register(organiser, edition)
    assert response.status_code == 409
    assert "Only 1 place is left" in _text(response)
    db.session.expire_all()
    assert _count(Order) == 1 and db.session.scalar(select(Quota.taken)) == 4


def test_bad_input_on_behalf_is_shown_at_the_field_and_writes_nothing(organiser, edition):
    response = _register(organiser, edition, ean="123", **{"attendees-1-email": ""})
    assert response.status_code == 422
    page = _text(response)
    assert "This is not a valid EAN location number" in page
    assert 'id="attendees-1-email-error"' in page
    assert "Nothing has been registered yet." in page
    assert _count(Order) == 0 and _count(OutboxMessage) == 0


def test_the_list_of_participants_grows_without_javascript(organiser, edition):
    response = _register(organiser, edition, attendee_count="3", action="count")
    assert response.status_code == 200
    assert 'id="attendees-2-name"' in _text(response)
    assert _count(Order) == 0
