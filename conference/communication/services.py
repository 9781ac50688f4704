"""Writing to the attendees of an edition: who gets it, how it looks, and sending it.

Recipients are chosen by a filter over confirmed places (organisation, ticket
type, not checked in yet) and, if asked, the bookers of the orders those
places belong to. Each address gets one copy, in its order's language, as one
outbox message written in the same transaction as the record of the message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select

from conference.communication.models import CommunicationMessage, CommunicationRecipient
from conference.core.db import db, edition_row
from conference.core.errors import DomainError
from conference.core.services import record_audit
from conference.events.models import Edition, TicketType
from conference.mail.models import OutboxMessage, OutboxStatus
from conference.mail.services import live_row, prepare_deferred_mail, render_mail
from conference.registration.models import Attendee, AttendeeStatus, Order, OrderStatus

MAIL_KIND = "communication"
SUBJECT_MAX = 200
BODY_MAX = 20_000


@dataclass(frozen=True)
class Audience:
    """Which places a message goes to; no filter means every confirmed place."""

    organisation: str = ""
    ticket_type_id: int | None = None
    not_checked_in: bool = False
    include_bookers: bool = False

    def to_json(self) -> dict:
        return {
            "organisation": self.organisation,
            "ticket_type_id": self.ticket_type_id,
            "not_checked_in": self.not_checked_in,
            "include_bookers": self.include_bookers,
        }

    @classmethod
    def from_json(cls, data: dict | None) -> Audience:
        data = data or {}
        return cls(
            organisation=data.get("organisation") or "",
            ticket_type_id=data.get("ticket_type_id"),
            not_checked_in=bool(data.get("not_checked_in")),
            include_bookers=bool(data.get("include_bookers")),
        )


@dataclass(frozen=True)
class MessageText:
    """The subject and plain text, in Danish and optionally in English."""

    subject: str
    body: str
    subject_en: str = ""
    body_en: str = ""

    @property
    def has_english(self) -> bool:
        return bool(self.subject_en and self.body_en)

    def in_language(self, language: str) -> tuple[str, str]:
        """(subject, body) as a reader of an order in ``language`` gets them."""
        if language == "en" and self.has_english:
            return self.subject_en, self.body_en
        return self.subject, self.body


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    #: "attendee" or "booker"
    role: str
    language: str
    order_id: int
    order_reference: str


@dataclass
class Preview:
    recipients: list[Recipient]
    #: The e-mail as the first recipient gets it: (subject, text body).
    sample_subject: str
    sample_text: str
    sample_recipient: Recipient


@dataclass
class AudienceChoices:
    organisations: list[str]
    ticket_types: list[TicketType]


@dataclass
class HistoryRow:
    message: CommunicationMessage
    statuses: Counter = field(default_factory=Counter)


@dataclass
class DeliveredCopy:
    recipient: CommunicationRecipient
    status: str
    sent_at: object | None
    attempts: int


def clean_text(text: MessageText) -> MessageText:
    """The text with its whitespace tidied, or a DomainError naming the field at fault.

    A subject is one line (a line break in it would break the mail's header);
    the English version comes whole or not at all.
    """
    subject = " ".join((text.subject or "").split())
    subject_en = " ".join((text.subject_en or "").split())
    body = (text.body or "").replace("\r\n", "\n").strip()
    body_en = (text.body_en or "").replace("\r\n", "\n").strip()
    for name, value, limit in (
        ("subject", subject, SUBJECT_MAX),
        ("subject_en", subject_en, SUBJECT_MAX),
        ("body", body, BODY_MAX),
        ("body_en", body_en, BODY_MAX),
    ):
        if len(value) > limit:
            raise DomainError(_("At most %(max)d characters.", max=limit), field=name)
    if not subject:
        raise DomainError(_("Write a subject."), field="subject")
    if not body:
        raise DomainError(_("Write the text of the message."), field="body")
    if subject_en and not body_en:
        raise DomainError(_("Write the English text too, or leave both empty."), field="body_en")
    if body_en and not subject_en:
        raise DomainError(
            _("Write the English subject too, or leave both empty."), field="subject_en"
        )
    return MessageText(subject, body, subject_en, body_en)


def audience_choices(edition: Edition) -> AudienceChoices:
    """The organisations with confirmed places, and the edition's ticket types."""
    organisations = db.session.scalars(
        select(Order.organisation)
        .where(Order.edition_id == edition.id, Order.status == OrderStatus.CONFIRMED)
        .where(Order.organisation != "")
        .distinct()
        .order_by(Order.organisation)
    ).all()
    return AudienceChoices(organisations=list(organisations), ticket_types=edition.ticket_types)


def _check_audience(edition: Edition, audience: Audience) -> None:
    if audience.ticket_type_id is not None and not any(
        t.id == audience.ticket_type_id for t in edition.ticket_types
    ):
        raise DomainError(_("Choose one of the edition's ticket types."), field="ticket_type_id")


def recipients(edition: Edition, audience: Audience) -> list[Recipient]:
    """Everyone the filter chooses, one per e-mail address (case does not matter).

    A person who is both a participant and a booker is counted once, as the
    participant; within each group the first order wins.
    """
    _check_audience(edition, audience)
    statement = (
        select(Attendee, Order)
        .join(Order, Attendee.order_id == Order.id)
        .where(
            Order.edition_id == edition.id,
            Order.status == OrderStatus.CONFIRMED,
            Attendee.status == AttendeeStatus.CONFIRMED,
        )
        .order_by(Order.id, Attendee.id)
    )
    if audience.organisation:
        statement = statement.where(Order.organisation == audience.organisation)
    if audience.ticket_type_id is not None:
        statement = statement.where(Attendee.ticket_type_id == audience.ticket_type_id)
    if audience.not_checked_in:
        statement = statement.where(Attendee.checked_in_at.is_(None))
    rows = db.session.execute(statement).all()

    chosen: dict[str, Recipient] = {}

    def add(email: str, name: str, role: str, order: Order) -> None:
        key = (email or "").strip().lower()
        if key and key not in chosen:
            chosen[key] = Recipient(
                email=email.strip(),
                name=name,
                role=role,
                language=order.language,
                order_id=order.id,
                order_reference=order.reference,
            )

    for attendee, order in rows:
        add(attendee.email, attendee.name, "attendee", order)
    if audience.include_bookers:
        for _attendee, order in rows:
            add(order.booker_email, order.booker_name, "booker", order)
    return list(chosen.values())


def _mail_context(edition: Edition, text: MessageText, recipient: Recipient) -> dict:
    subject, body = text.in_language(recipient.language)
    return {
        "edition": live_row(Edition, edition.id),
        "message_subject": subject,
        "message_body": body,
        "recipient_name": recipient.name,
    }


def preview(edition: Edition, audience: Audience, text: MessageText) -> Preview:
    """The recipients and the e-mail as the first of them gets it. Writes nothing."""
    text = clean_text(text)
    chosen = recipients(edition, audience)
    if not chosen:
        raise DomainError(_("No one matches this filter."), field="audience")
    first = chosen[0]
    subject, body = text.in_language(first.language)
    rendered_subject, rendered_text, _html = render_mail(
        MAIL_KIND,
        first.language,
        edition=edition,
        message_subject=subject,
        message_body=body,
        recipient_name=first.name,
    )
    return Preview(
        recipients=chosen,
        sample_subject=rendered_subject,
        sample_text=rendered_text,
        sample_recipient=first,
    )


def send_message(
    edition: Edition,
    audience: Audience,
    text: MessageText,
    *,
    actor: str,
    expected_count: int | None = None,
) -> CommunicationMessage:
    """Queue one e-mail per recipient and record the message, in the current transaction.

    ``expected_count`` is the number the organiser saw in the preview: if the
    recipients changed since (a new registration, a check-in), nothing is sent
    and the organiser looks again.
    """
    from conference.privacy.services import is_erased

    if is_erased(edition):
        raise DomainError(
            _("This edition's personal data has been erased; no one can be written to.")
        )
    text = clean_text(text)
    chosen = recipients(edition, audience)
    if not chosen:
        raise DomainError(_("No one matches this filter."), field="audience")
    if expected_count is not None and expected_count != len(chosen):
        raise DomainError(
            _(
                "The recipients have changed since the preview (now %(num)d). Look at the "
                "preview again before sending.",
                num=len(chosen),
            )
        )
    message = CommunicationMessage(
        edition_id=edition.id,
        sent_by=actor,
        subject=text.subject,
        body=text.body,
        subject_en=text.subject_en or None,
        body_en=text.body_en or None,
        audience=audience.to_json(),
        recipient_count=len(chosen),
    )
    db.session.add(message)
    outbox = [
        prepare_deferred_mail(
            MAIL_KIND,
            recipient.email,
            MAIL_KIND,
            recipient.language,
            context=_mail_context(edition, text, recipient),
            order_id=recipient.order_id,
        )
        for recipient in chosen
    ]
    db.session.add_all(outbox)
    db.session.flush()  # the outbox ids, for the recipient rows
    db.session.add_all(
        CommunicationRecipient(
            message_id=message.id,
            outbox_message_id=mail.id,
            order_id=recipient.order_id,
            role=recipient.role,
            name=recipient.name,
            email=recipient.email,
            language=recipient.language,
        )
        for recipient, mail in zip(chosen, outbox, strict=True)
    )
    record_audit(
        actor,
        "communication.sent",
        "communication_message",
        message.id,
        recipients=len(chosen),
        audience=audience.to_json(),
    )
    return message


def message_history(edition: Edition) -> list[HistoryRow]:
    """Every message sent for the edition, newest first, with its copies' delivery statuses."""
    messages = db.session.scalars(
        select(CommunicationMessage)
        .where(CommunicationMessage.edition_id == edition.id)
        .order_by(CommunicationMessage.created_at.desc(), CommunicationMessage.id.desc())
    ).all()
    rows = {m.id: HistoryRow(message=m) for m in messages}
    if rows:
        counted = db.session.execute(
            select(CommunicationRecipient.message_id, OutboxMessage.status)
            .join(OutboxMessage, OutboxMessage.id == CommunicationRecipient.outbox_message_id)
            .where(CommunicationRecipient.message_id.in_(list(rows)))
        )
        for message_id, status in counted:
            rows[message_id].statuses[status] += 1
    return list(rows.values())


def get_message(edition: Edition, message_id: int) -> CommunicationMessage:
    """One message of the edition, or NotFound."""
    return edition_row(
        CommunicationMessage, message_id, edition.id, _("This message does not exist.")
    )


def delivered_copies(message: CommunicationMessage) -> list[DeliveredCopy]:
    """Whom the message went to, each with the delivery status of their copy."""
    rows = db.session.execute(
        select(CommunicationRecipient, OutboxMessage)
        .outerjoin(OutboxMessage, OutboxMessage.id == CommunicationRecipient.outbox_message_id)
        .where(CommunicationRecipient.message_id == message.id)
        .order_by(CommunicationRecipient.id)
    ).all()
    return [
        DeliveredCopy(
            recipient=recipient,
            status=mail.status if mail is not None else OutboxStatus.FAILED,
            sent_at=mail.sent_at if mail is not None else None,
            attempts=mail.attempts if mail is not None else 0,
        )
        for recipient, mail in rows
    ]


def ticket_type_name(edition: Edition, ticket_type_id: int | None, language: str) -> str:
    for ticket_type in edition.ticket_types:
        if ticket_type.id == ticket_type_id:
            return ticket_type.display_name(language)
    return ""
