"""What the system keeps about people, a person's own copy of it, and erasing it.

After an edition has taken place its participants', bookers', waiting-list
entries' and exhibitor staff's personal data is erased (``erase_edition``, from
the back office or ``flask --app wsgi privacy erase``). Invoices and credit
notes are not touched: they hold their own snapshot of buyer, address, CVR/EAN
and lines, which bookkeeping law (bogføringsloven) requires for five years, and
they cannot be changed anyway (see conference.invoicing.models).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import String, cast, insert, literal, null, or_, select, update

from conference.communication.models import CommunicationMessage, CommunicationRecipient
from conference.core.db import db, utcnow
from conference.core.errors import DomainError
from conference.core.models import AuditEvent
from conference.core.security import hash_token
from conference.core.services import record_audit
from conference.events.models import Edition
from conference.invoicing.models import Invoice
from conference.mail.models import OutboxMessage, OutboxStatus
from conference.privacy.models import EditionErasure, ErasedLink
from conference.registration.models import Attendee, Order, WaitingListEntry
from conference.registration.services import ManageView
from conference.stands.models import ExhibitorPass, StandBooking
from conference.transfers.models import PlaceTransfer

#: A retired token hash starts with this; a live one is 64 hex digits, so never does.
ERASED_PREFIX = "erased-"

#: Audit data that names or addresses a person (or carries a link's token).
PERSONAL_AUDIT_KEYS = frozenset(
    {
        "name",
        "email",
        "old_name",
        "new_name",
        "from_name",
        "from_email",
        "to_name",
        "to_email",
        "booker_name",
        "booker_email",
        "contact_name",
        "contact_email",
        "phone",
        "booker_phone",
        "job_title",
        "dietary",
        "manage_url",
        "offer_url",
    }
)


# --- retention ---------------------------------------------------------------------


def retention_days() -> int:
    """How long after an edition ends its personal data is kept (a setting)."""
    return int(current_app.config.get("PRIVACY_RETENTION_DAYS", 90))


def erasure_due_on(edition: Edition) -> datetime:
    """When the edition's personal data should be erased at the latest."""
    return edition.ends_at + timedelta(days=retention_days())


def erasure_of(edition: Edition) -> EditionErasure | None:
    """The record of the edition's erasure, if it has been erased."""
    return db.session.get(EditionErasure, edition.id)


def is_erased(edition: Edition) -> bool:
    return erasure_of(edition) is not None


# --- retired links -----------------------------------------------------------------


def link_digest(token_hash: str) -> str:
    """What an erased edition keeps of a manage link: a digest of its stored hash."""
    return hashlib.sha256(f"erased:{token_hash}".encode()).hexdigest()


def erased_link_edition(token: str) -> Edition | None:
    """The erased edition a manage or offer link belonged to, or None."""
    if not token or len(token) > 100:
        return None
    link = db.session.get(ErasedLink, link_digest(hash_token(token)))
    return db.session.get(Edition, link.edition_id) if link is not None else None


# --- erasure -----------------------------------------------------------------------


@dataclass
class ErasureResult:
    erasure: EditionErasure
    #: Rows changed in this run, per kind; all zero when it ran before.
    counts: dict[str, int]
    first_time: bool


def _live(column):
    return ~column.startswith(ERASED_PREFIX)


def _retired(prefix: str, model) -> object:
    # Unique per row (the primary key) and never a SHA-256 hex digest.
    return literal(f"{ERASED_PREFIX}{prefix}-") + cast(model.id, String)


def _filled(*columns):
    return or_(*[(column.is_not(None)) & (column != "") for column in columns])


def _bulk(statement) -> int:
    return db.session.execute(statement.execution_options(synchronize_session=False)).rowcount


def erase_edition(edition: Edition, *, actor: str, now: datetime | None = None) -> ErasureResult:
    """Remove the personal data of an edition that has ended; safe to run again.

    Names, e-mail addresses, phone numbers, job titles and dietary needs go from
    places, orders, waiting-list entries, transfers, stand bookings' contacts and
    exhibitor passes; manage and offer links stop working (and say the data was
    erased); outbox messages lose their address, snapshot, bodies and
    attachments; message recipients lose name and address; audit records of
    these rows lose the names and addresses they quoted. Invoices, credit notes
    and their PDFs stay as issued. The audit record of the erasure holds only
    counts.
    """
    now = now or utcnow()
    if edition.ends_at > now:
        raise DomainError(
            _(
                "%(edition)s has not ended yet (it ends %(when)s). Personal data can only "
                "be erased after the edition.",
                edition=edition.name,
                when=format_datetime(edition.ends_at, "short"),
            )
        )
    orders = select(Order.id).where(Order.edition_id == edition.id).scalar_subquery()
    bookings = (
        select(StandBooking.id).where(StandBooking.edition_id == edition.id).scalar_subquery()
    )
    addresses = _addresses_of(edition, orders, bookings)
    links = _retire_links(edition, orders)
    counts: dict[str, int] = {"links_retired": links}

    counts["attendees"] = _bulk(
        update(Attendee)
        .where(Attendee.order_id.in_(orders))
        .where(
            _filled(Attendee.name, Attendee.email, Attendee.job_title, Attendee.dietary)
            | _live(Attendee.manage_token_hash)
        )
        .values(
            name="",
            email="",
            job_title="",
            dietary="",
            manage_token_hash=_retired("attendee", Attendee),
        )
    )
    counts["orders"] = _bulk(
        update(Order)
        .where(Order.edition_id == edition.id)
        .where(
            _filled(
                Order.booker_name, Order.booker_email, Order.booker_phone, Order.personreference
            )
            | _live(Order.manage_token_hash)
        )
        .values(
            booker_name="",
            booker_email="",
            booker_phone="",
            personreference=None,
            manage_token_hash=_retired("order", Order),
        )
    )
    counts["waiting_list_entries"] = _bulk(
        update(WaitingListEntry)
        .where(WaitingListEntry.edition_id == edition.id)
        .where(
            _filled(WaitingListEntry.booker_name, WaitingListEntry.booker_email)
            | _live(WaitingListEntry.manage_token_hash)
        )
        .values(
            booker_name="",
            booker_email="",
            payload={},
            note=None,
            manage_token_hash=_retired("waiting", WaitingListEntry),
            offer_token_hash=None,
        )
    )
    counts["transfers"] = _bulk(
        update(PlaceTransfer)
        .where(PlaceTransfer.edition_id == edition.id)
        .where(
            _filled(
                PlaceTransfer.from_name,
                PlaceTransfer.from_email,
                PlaceTransfer.from_job_title,
                PlaceTransfer.to_name,
                PlaceTransfer.to_email,
                PlaceTransfer.to_job_title,
                PlaceTransfer.to_dietary,
                PlaceTransfer.requester_email,
                PlaceTransfer.old_manage_token_hash,
            )
        )
        .values(
            from_name="",
            from_email="",
            from_job_title="",
            to_name="",
            to_email="",
            to_job_title="",
            to_dietary="",
            requester_email="",
            note=None,
            old_manage_token_hash=None,
        )
    )
    counts["stand_bookings"] = _bulk(
        update(StandBooking)
        .where(StandBooking.edition_id == edition.id)
        .where(
            _filled(
                StandBooking.contact_name,
                StandBooking.contact_email,
                StandBooking.contact_phone,
                StandBooking.invoice_email,
                StandBooking.personreference,
            )
            | _live(StandBooking.manage_token_hash)
        )
        .values(
            contact_name="",
            contact_email="",
            contact_phone="",
            invoice_email="",
            personreference=None,
            manage_token_hash=_retired("stand", StandBooking),
        )
    )
    counts["exhibitor_passes"] = _bulk(
        update(ExhibitorPass)
        .where(ExhibitorPass.edition_id == edition.id)
        .where(_filled(ExhibitorPass.name, ExhibitorPass.email, ExhibitorPass.job_title))
        .values(name="", email="", job_title="")
    )
    counts["communication_recipients"] = _bulk(
        update(CommunicationRecipient)
        .where(
            CommunicationRecipient.message_id.in_(
                select(CommunicationMessage.id).where(CommunicationMessage.edition_id == edition.id)
            )
        )
        .where(_filled(CommunicationRecipient.name, CommunicationRecipient.email))
        .values(name="", email="")
    )
    counts["outbox_messages"] = _erase_outbox(edition, orders, addresses)
    counts["audit_events"] = _scrub_audit(edition)

    erasure = erasure_of(edition)
    first_time = erasure is None
    if erasure is None:
        erasure = EditionErasure(
            edition_id=edition.id, erased_at=now, erased_by=actor, last_run_at=now, counts=counts
        )
        db.session.add(erasure)
    else:
        erasure.last_run_at = now
    db.session.expire_all()
    record_audit(
        actor,
        "edition.personal_data_erased",
        "edition",
        edition.id,
        repeated=not first_time,
        **counts,
    )
    db.session.flush()
    return ErasureResult(
        erasure=db.session.get(EditionErasure, edition.id), counts=counts, first_time=first_time
    )


def _addresses_of(edition: Edition, orders, bookings) -> set[str]:
    """Every e-mail address the edition holds, lower-cased (to find its outbox messages)."""
    queries = [
        select(Attendee.email).where(Attendee.order_id.in_(orders)),
        select(Order.booker_email).where(Order.edition_id == edition.id),
        select(WaitingListEntry.booker_email).where(WaitingListEntry.edition_id == edition.id),
        select(PlaceTransfer.from_email).where(PlaceTransfer.edition_id == edition.id),
        select(PlaceTransfer.to_email).where(PlaceTransfer.edition_id == edition.id),
        select(PlaceTransfer.requester_email).where(PlaceTransfer.edition_id == edition.id),
        select(StandBooking.contact_email).where(StandBooking.id.in_(bookings)),
        select(StandBooking.invoice_email).where(StandBooking.id.in_(bookings)),
        select(ExhibitorPass.email).where(ExhibitorPass.edition_id == edition.id),
    ]
    found: set[str] = set()
    for query in queries:
        found.update((value or "").strip().lower() for value in db.session.scalars(query))
    found.discard("")
    return found


def _retire_links(edition: Edition, orders) -> int:
    """Keep a digest of every live manage and offer link, so each can say it was erased."""
    queries = [
        select(Attendee.manage_token_hash).where(Attendee.order_id.in_(orders)),
        select(Order.manage_token_hash).where(Order.edition_id == edition.id),
        select(WaitingListEntry.manage_token_hash).where(WaitingListEntry.edition_id == edition.id),
        select(WaitingListEntry.offer_token_hash).where(WaitingListEntry.edition_id == edition.id),
        select(PlaceTransfer.old_manage_token_hash).where(PlaceTransfer.edition_id == edition.id),
        select(StandBooking.manage_token_hash).where(StandBooking.edition_id == edition.id),
    ]
    digests: set[str] = set()
    for query in queries:
        for token_hash in db.session.scalars(query):
            if token_hash and not token_hash.startswith(ERASED_PREFIX):
                digests.add(link_digest(token_hash))
    known = set()
    if digests:
        known = set(
            db.session.scalars(select(ErasedLink.digest).where(ErasedLink.digest.in_(digests)))
        )
    rows = [{"digest": d, "edition_id": edition.id} for d in sorted(digests - known)]
    if rows:
        db.session.execute(insert(ErasedLink.__table__), rows)
    return len(rows)


def _erase_outbox(edition: Edition, orders, addresses: set[str]) -> int:
    """Blank the outbox messages about the edition's orders, and those sent to its people.

    A message is the edition's if it names one of its orders, or if it names no
    order (waiting-list and stand mails), went to one of its addresses and is
    about this edition: rendered with its name, or to be rendered with it. The
    same person's mail about another edition is left alone.
    """
    belongs = OutboxMessage.order_id.in_(orders)
    if addresses:
        names = {name for name in (edition.name, edition.name_en) if name}
        candidates = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.order_id.is_(None), OutboxMessage.to_address != ""
            )
        )
        by_address = [
            message.id
            for message in candidates
            if (message.to_address or "").strip().lower() in addresses
            and _is_about(message, edition.id, names)
        ]
        if by_address:
            belongs = belongs | OutboxMessage.id.in_(by_address)
    mine = (OutboxMessage.to_address != "") | OutboxMessage.context.is_not(None)
    # A message not sent yet will never be: there is no one left to send it to.
    _bulk(
        update(OutboxMessage)
        .where(belongs, mine, OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.FAILED)
    )
    return _bulk(
        update(OutboxMessage)
        .where(belongs, mine)
        .values(
            to_address="",
            context=null(),
            template=None,
            body_text="",
            body_html=None,
            attachments=[],
            last_error=None,
        )
    )


def _is_about(message: OutboxMessage, edition_id: int, names: set[str]) -> bool:
    if message.context is not None:
        return {"$edition": edition_id} in _nested_values(message.context)
    text = f"{message.subject or ''}\n{message.body_text or ''}\n{message.body_html or ''}"
    return any(name in text for name in names)


def _nested_values(value) -> list:
    found = [value]
    if isinstance(value, dict):
        for item in value.values():
            found.extend(_nested_values(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_nested_values(item))
    return found


def _edition_objects(edition: Edition) -> dict[str, set[int]]:
    orders = set(db.session.scalars(select(Order.id).where(Order.edition_id == edition.id)))
    return {
        "order": orders,
        "attendee": set(
            db.session.scalars(select(Attendee.id).where(Attendee.order_id.in_(orders)))
        )
        if orders
        else set(),
        "waiting_list_entry": set(
            db.session.scalars(
                select(WaitingListEntry.id).where(WaitingListEntry.edition_id == edition.id)
            )
        ),
        "place_transfer": set(
            db.session.scalars(
                select(PlaceTransfer.id).where(PlaceTransfer.edition_id == edition.id)
            )
        ),
        "stand_booking": set(
            db.session.scalars(select(StandBooking.id).where(StandBooking.edition_id == edition.id))
        ),
        "exhibitor_pass": set(
            db.session.scalars(
                select(ExhibitorPass.id).where(ExhibitorPass.edition_id == edition.id)
            )
        ),
    }


def _scrub_audit(edition: Edition) -> int:
    """Take names and addresses out of the audit records of the edition's rows.

    Also inside a change's ``{"before": {...}, "after": {...}}`` (an organiser's
    correction of a name or an e-mail address records both).
    """
    changed = 0
    for object_type, ids in _edition_objects(edition).items():
        if not ids:
            continue
        events = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.object_type == object_type, AuditEvent.object_id.in_(ids)
            )
        )
        for event in events:
            data, scrubbed = _without_personal(event.data or {})
            if scrubbed:
                event.data = data
                changed += 1
    db.session.flush()
    return changed


def _without_personal(data: dict) -> tuple[dict, bool]:
    """``data`` with every personal value emptied, at any depth; and whether any was."""
    cleaned, scrubbed = {}, False
    for key, value in data.items():
        if isinstance(value, dict):
            value, inner = _without_personal(value)
            scrubbed = scrubbed or inner
        elif key in PERSONAL_AUDIT_KEYS and value:
            value, scrubbed = "", True
        cleaned[key] = value
    return cleaned, scrubbed


# --- a person's own data -----------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def _place(attendee: Attendee, language: str) -> dict:
    return {
        "name": attendee.name,
        "email": attendee.email,
        "job_title": attendee.job_title,
        "dietary_needs": attendee.dietary,
        "ticket_type": attendee.ticket_type.display_name(language),
        "status": attendee.status,
        "registered_at": _when(attendee.created_at),
        "checked_in_at": _when(attendee.checked_in_at),
    }


def _emails(order: Order, addresses: set[str]) -> list[dict]:
    wanted = {a.strip().lower() for a in addresses if a}
    messages = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.order_id == order.id).order_by(OutboxMessage.id)
    )
    return [
        {
            "to": message.to_address,
            "kind": message.kind,
            "subject": message.subject,
            "queued_at": _when(message.created_at),
            "status": message.status,
            "sent_at": _when(message.sent_at),
        }
        for message in messages
        if (message.to_address or "").strip().lower() in wanted
    ]


def personal_data(view: ManageView, language: str) -> dict:
    """What the system holds about the person a manage link belongs to, as plain JSON.

    The booker gets the order with its participants and invoice details; a
    participant their own place and the order's reference and organisation.
    """
    order = view.order
    edition = order.edition
    data: dict = {
        "about": _(
            "The personal data %(event)s holds about you, from your personal link. "
            "Questions: %(email)s.",
            event=edition.display_name(language),
            email=edition.contact_email or edition.questions_email,
        ),
        "downloaded_at": _when(utcnow()),
        "event": {
            "name": edition.display_name(language),
            "starts_at": _when(edition.starts_at),
            "venue": f"{edition.venue_name}, {edition.venue_address}",
            "contact": {
                "name": edition.contact_name,
                "email": edition.contact_email,
                "phone": edition.contact_phone,
            },
        },
    }
    if view.is_booker:
        data["order"] = {
            "reference": order.reference,
            "status": order.status,
            "placed_at": _when(order.created_at),
            "language": order.language,
            "booker": {
                "name": order.booker_name,
                "email": order.booker_email,
                "phone": order.booker_phone,
                "organisation": order.organisation,
                "organisation_type": order.organisation_type,
            },
            "invoice_details": {
                "organisation": order.invoice_organisation,
                "address": order.invoice_address,
                "postcode": order.invoice_postcode,
                "city": order.invoice_city,
                "cvr": order.cvr,
                "ean": order.ean,
                "personreference": order.personreference,
                "order_number": order.buyer_order_number,
                "accounting_cost": order.accounting_cost,
            },
            "payment": {"method": order.payment_method, "status": order.payment_status},
            "participants": [_place(a, language) for a in order.attendees],
        }
        data["invoices"] = [
            {"number": number, "kind": kind, "issued_on": issued.isoformat()}
            for number, kind, issued in db.session.execute(
                select(Invoice.number, Invoice.kind, Invoice.issued_on)
                .where(Invoice.order_id == order.id)
                .order_by(Invoice.id)
            )
        ]
        data["emails"] = _emails(order, {order.booker_email})
    else:
        attendee = view.attendee
        data["place"] = _place(attendee, language)
        data["order"] = {"reference": order.reference, "organisation": order.organisation}
        data["emails"] = _emails(order, {attendee.email})
    return data
