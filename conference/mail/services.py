"""Queueing e-mail in the outbox, and sending what is due.

A message is written in the same transaction as the change it reports, so it
exists exactly when the change was committed. The worker (``flask --app wsgi
outbox run``) sends it later; no request sends mail. Most messages are
rendered when they are queued; the e-mails of a registration are deferred:
queued with their template and a snapshot, and rendered by the worker (see
``prepare_deferred_mail``).
"""

from __future__ import annotations

import base64
import re
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from types import SimpleNamespace

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from jinja2 import TemplateNotFound
from sqlalchemy import insert, select, update

from conference.core.db import db, utcnow
from conference.core.errors import NotFound
from conference.core.i18n import babel_locale
from conference.core.urls import public_url
from conference.mail.models import OutboxMessage, OutboxStatus


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes

    def to_json(self) -> dict:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "data_b64": base64.b64encode(self.data).decode("ascii"),
        }


def invoice_attachment(invoice_id: int, filename: str) -> dict:
    """An outbox attachment that is an invoice's PDF, fetched when the mail is built.

    The PDF is rendered (once, then stored) by the worker rather than in the
    transaction that issues the invoice: that transaction may hold the places'
    and the number series' locks, and a render takes far longer than the rest.
    """
    return {"filename": filename, "content_type": "application/pdf", "invoice_id": invoice_id}


def order_invoice_attachment(order_id: int, filename: str) -> dict:
    """An outbox attachment that is the PDF of an order's invoice, found when the mail is built.

    For a confirmation queued before its invoice is numbered (a registration
    takes the number last, while it holds the places' lock; see place_order).
    ``filename`` names it until then; the mail carries the invoice's own name.
    """
    return {"filename": filename, "content_type": "application/pdf", "invoice_of_order": order_id}


def _order_invoice(item: dict):
    from conference.invoicing.services import invoice_for_order
    from conference.registration.models import Order

    order = db.session.get(Order, item["invoice_of_order"])
    invoice = invoice_for_order(order) if order is not None else None
    if invoice is None:
        raise NotFound(f"order {item['invoice_of_order']} of an attachment has no invoice")
    return invoice


def attachment_filename(item: dict) -> str:
    """The file name an outbox attachment goes out under."""
    if "invoice_of_order" in item:
        from conference.invoicing.services import invoice_filename

        return invoice_filename(_order_invoice(item))
    return item["filename"]


def attachment_data(item: dict) -> bytes:
    """The bytes of an outbox attachment: stored inline, an invoice's stored PDF, or a
    ticket PDF rendered from the snapshot taken when the mail was queued."""
    if "invoice_id" in item:
        from conference.invoicing.models import Invoice
        from conference.invoicing.pdf import stored_pdf

        invoice = db.session.get(Invoice, item["invoice_id"])
        if invoice is None:
            raise NotFound(f"invoice {item['invoice_id']} of an attachment does not exist")
        return stored_pdf(invoice)
    if "invoice_of_order" in item:
        from conference.invoicing.pdf import stored_pdf

        return stored_pdf(_order_invoice(item))
    if "ticket" in item:
        from conference.checkin.services import ticket_pdf_from_snapshot

        return ticket_pdf_from_snapshot(item["ticket"])
    return base64.b64decode(item["data_b64"])


#: C0 and C1 control characters and DEL: never part of a header's text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def header_text(value: str) -> str:
    """A header value on one line: a subject may name a person, and a name posted
    with a line break or a control character would make the message unsendable
    (the email package refuses a header with a line break)."""
    return " ".join(_CONTROL.sub(" ", value or "").split())


def render_mail(template: str, language: str, **context) -> tuple[str, str, str | None]:
    """Render ``mail/<template>.txt`` (and ``.html`` if it exists) in a language.

    The text template sets the subject with ``{% set subject = ... %}`` at top level.
    The HTML one extends ``mail/base.html`` and is autoescaped (Flask escapes
    ``.html`` templates), so names typed by users cannot inject markup.
    Returns (subject, text body, html body or None).
    """
    env = current_app.jinja_env
    with force_locale(babel_locale(language)):
        context.setdefault("language", language)
        context.setdefault("public_url", public_url)
        text_template = env.get_template(f"mail/{template}.txt")
        module = text_template.make_module(_with_globals(context))
        subject = header_text(str(getattr(module, "subject", "")))
        body_text = str(module).strip() + "\n"
        # Only a missing HTML version is optional; an error in one must not pass silently.
        try:
            env.get_template(f"mail/{template}.html")
        except TemplateNotFound:
            body_html = None
        else:
            body_html = render_template(f"mail/{template}.html", subject=subject, **context)
    return subject, body_text, body_html


def _with_globals(context: dict) -> dict:
    # make_module does not run Flask's context processors; add what mail templates use.
    merged = dict(current_app.jinja_env.globals)
    merged.update(context)
    return merged


def prepare_mail(
    kind: str,
    to: str,
    template: str,
    language: str,
    *,
    order_id: int | None = None,
    attachments: Iterable[Attachment] = (),
    **context,
) -> OutboxMessage:
    """Render a message into an outbox row that is not added to the session yet.

    For a caller that renders before it takes a lock and adds the rows after
    (see ``add_mails``); everyone else uses ``queue_mail``.
    """
    subject, body_text, body_html = render_mail(template, language, **context)
    return OutboxMessage(
        kind=kind,
        to_address=to,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        attachments=[a.to_json() for a in attachments],
        language=language,
        order_id=order_id,
    )


def prepare_deferred_mail(
    kind: str,
    to: str,
    template: str,
    language: str,
    *,
    context: dict,
    order_id: int | None = None,
    attachments: Iterable[Attachment] = (),
) -> OutboxMessage:
    """A message the worker renders when it sends it; not added to the session yet.

    For the e-mails of a registration: rendering them in text and HTML was the
    largest piece of a registration's work in a rush, and the booker does not
    wait for them. ``context`` is what the template is rendered with, stored
    as JSON: plain values and snapshots (dicts, read by the template as
    attributes) of what the message reports, frozen now as a rendered message
    would be, and ``live_row`` references to rows shown as they are when the
    message is rendered (the edition's texts, a ticket type's name).
    """
    return OutboxMessage(
        kind=kind,
        to_address=to,
        template=template,
        context=context,
        attachments=[a.to_json() for a in attachments],
        language=language,
        order_id=order_id,
    )


def _live_models() -> dict:
    from conference.events.models import Edition, TicketType

    return {"$edition": Edition, "$ticket_type": TicketType}


def live_row(model: type, ident: int) -> dict:
    """A deferred message's reference to a row, read when the message is rendered."""
    for key, candidate in _live_models().items():
        if candidate is model:
            return {key: ident}
    raise TypeError(f"{model.__name__} cannot be referred to from a deferred message")


def _resolved(value):
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, ident),) = value.items()
            model = _live_models().get(key)
            if model is not None:
                row = db.session.get(model, ident)
                if row is None:
                    raise LookupError(f"{model.__name__} {ident} no longer exists")
                return row
        return SimpleNamespace(**{name: _resolved(item) for name, item in value.items()})
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return value


def render_message(message: OutboxMessage) -> OutboxMessage:
    """Render a deferred message into its subject and bodies, once; others stay as they are."""
    if message.body_text is None and message.template:
        # Rendering reads rows; it must not write (and lock) the caller's pending
        # changes, such as the messages rendered before this one.
        with db.session.no_autoflush:
            context = {name: _resolved(value) for name, value in (message.context or {}).items()}
            message.subject, message.body_text, message.body_html = render_mail(
                message.template, message.language, **context
            )
    return message


_OUTBOX_COLUMNS = frozenset(OutboxMessage.__table__.columns.keys())


def add_mails(messages: Iterable[OutboxMessage]) -> None:
    """Put prepared messages in the outbox, in the current transaction.

    Written at once with one multi-row INSERT rather than through the unit of
    work: the rows are final and nobody reads these objects back, and in a
    registration rush the ORM's bookkeeping cost more than the write.
    """
    rows = [
        {key: value for key, value in vars(message).items() if key in _OUTBOX_COLUMNS}
        for message in messages
    ]
    if rows:
        # Into the table, not through the ORM class: its bulk-insert path adds
        # bookkeeping, and in a rush this runs while the places are locked.
        db.session.execute(insert(OutboxMessage.__table__), rows)


def queue_mail(
    kind: str,
    to: str,
    template: str,
    language: str,
    *,
    order_id: int | None = None,
    attachments: Iterable[Attachment] = (),
    **context,
) -> OutboxMessage:
    """Render a message and add it to the outbox in the current transaction."""
    message = prepare_mail(
        kind, to, template, language, order_id=order_id, attachments=attachments, **context
    )
    db.session.add(message)
    return message


# --- sending --------------------------------------------------------------------


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0  # attempts that failed (retried later or given up)
    gave_up: int = 0  # messages marked failed for good in this round


def build_email(message: OutboxMessage) -> EmailMessage:
    """The MIME message for an outbox row: text, HTML alternative, attachments.

    A deferred message is rendered first; its subject and bodies are kept on
    the row, so the record says what was sent.
    """
    render_message(message)
    config = current_app.config
    sender_domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2] or "localhost"
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.to_address
    email["Subject"] = header_text(message.subject)
    email["Date"] = formatdate(localtime=True)
    # The same Message-ID on every attempt: a message sent again because the
    # connection dropped after the server took it, before it said so, is
    # recognisably the same message to the receiving side.
    created = f"{message.created_at:%Y%m%d%H%M%S%f}" if message.created_at else "0"
    email["Message-ID"] = f"<outbox.{message.id}.{created}@{sender_domain}>"
    # Tells mail servers and out-of-office responders not to answer automatically.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    for attachment in message.attachments or []:
        content_type, params = _parse_content_type(attachment["content_type"])
        maintype, _, subtype = content_type.partition("/")
        email.add_attachment(
            attachment_data(attachment),
            maintype=maintype,
            subtype=subtype,
            filename=attachment_filename(attachment),
            params=params,
        )
    # Last: set_content() and add_alternative() move or drop Content-* headers.
    email["Content-Language"] = message.language
    return email


def _parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """("text/calendar", {"charset": "utf-8"}) from "text/calendar; charset=utf-8"."""
    content_type, *rest = (part.strip() for part in value.split(";"))
    params = {}
    for part in rest:
        key, _, param = part.partition("=")
        if key and param:
            params[key.strip().lower()] = param.strip().strip('"')
    if content_type == "text/calendar":
        # Calendar clients offer "add to calendar" for a published event.
        params.setdefault("method", "PUBLISH")
    return content_type.lower(), params


def _smtp_connection() -> smtplib.SMTP:
    config = current_app.config
    # A verifying context: smtplib's default for STARTTLS does not check certificates.
    tls = ssl.create_default_context()
    if config["MAIL_USE_SSL"]:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"], context=tls
        )
    else:
        smtp = smtplib.SMTP(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
        )
        if config["MAIL_USE_STARTTLS"]:
            smtp.starttls(context=tls)
    if config["MAIL_USERNAME"]:
        smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
    return smtp


def retry_delay_seconds(attempts: int) -> int:
    """Backoff after a failed attempt: 1, 2, 4 ... minutes, at most an hour."""
    return min(60 * 2 ** max(attempts - 1, 0), 3600)


def _lock_next_due(now: datetime) -> OutboxMessage | None:
    # SKIP LOCKED: a message another worker is sending right now is simply not
    # seen, so two workers never send the same one and never wait for each other.
    # SQLite ignores it, but there every transaction is BEGIN IMMEDIATE, so
    # workers take turns and see each other's committed status.
    return db.session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _any_due(now: datetime) -> bool:
    due = db.session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
        )
        .limit(1)
    )
    db.session.rollback()
    return due is not None


def _is_permanent(error: Exception) -> bool:
    """A 5xx answer to this message's recipient or content: retrying cannot help."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(error, smtplib.SMTPDataError):
        return 500 <= error.smtp_code < 600
    return False


def _is_about_this_message(error: Exception) -> bool:
    # The server refused this message but the connection is fine (smtplib sent
    # RSET), so the next message may still go through on it.
    return isinstance(error, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError) or not (
        isinstance(error, OSError)
    )


def _record_failure(
    message: OutboxMessage, error: Exception, result: SendResult, now: datetime
) -> None:
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:2000]
    result.failed += 1
    if _is_permanent(error) or message.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        message.status = OutboxStatus.FAILED
        result.gave_up += 1
        current_app.logger.error(
            "Gave up on outbox message %s to %s: %s",
            message.id,
            message.to_address,
            message.last_error,
        )
    else:
        message.next_attempt_at = now + timedelta(seconds=retry_delay_seconds(message.attempts))
        current_app.logger.warning(
            "Outbox message %s not sent (attempt %s): %s",
            message.id,
            message.attempts,
            message.last_error,
        )


def send_due_messages(limit: int = 100, *, now: datetime | None = None) -> SendResult:
    """Send outbox messages that are due, one transaction per message.

    Each message is locked while it is sent (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL), so several workers never send the same message twice; its
    status is committed right after the SMTP server accepted it. A failure
    is recorded on the message (attempts, last_error) and retried later with
    backoff; after ``MAIL_MAX_ATTEMPTS``, or when the server refuses the
    recipient for good (5xx), the message is marked failed. When the server
    cannot be reached the round stops: the remaining messages wait for the
    next one. Should the database fail after the server accepted a message,
    it is sent again later: delivery is at least once, and exactly once
    otherwise. ``now`` lets tests move the clock.
    """
    result = SendResult()
    smtp: smtplib.SMTP | None = None
    sent_on_connection = 0
    try:
        for _ in range(limit):
            moment = now or utcnow()
            if smtp is None:
                # Connect before taking a lock, so a slow or dead server never
                # holds a row lock (or SQLite's write lock) for its timeout.
                if not _any_due(moment):
                    break
                try:
                    smtp = _smtp_connection()
                    sent_on_connection = 0
                except Exception as error:  # noqa: BLE001 - any network or TLS failure
                    message = _lock_next_due(moment)
                    if message is not None:
                        _record_failure(message, error, result, moment)
                        db.session.commit()
                    break
            message = _lock_next_due(moment)
            if message is None:
                break
            try:
                email = build_email(message)
                try:
                    smtp.send_message(email)
                except smtplib.SMTPServerDisconnected:
                    if not sent_on_connection:
                        raise
                    # The server closed a connection we had used for a while
                    # (idle timeout, message limit): reconnect once.
                    smtp = _close_quietly(smtp)
                    smtp = _smtp_connection()
                    sent_on_connection = 0
                    smtp.send_message(email)
            except Exception as error:  # noqa: BLE001 - any SMTP, network or content failure
                _record_failure(message, error, result, moment)
                db.session.commit()
                if _is_about_this_message(error):
                    continue
                # The server is probably down: stop this round, the backoff retries later.
                smtp = _close_quietly(smtp)
                break
            message.attempts += 1
            message.status = OutboxStatus.SENT
            message.sent_at = utcnow()
            message.last_error = None
            db.session.commit()
            sent_on_connection += 1
            result.sent += 1
    finally:
        _close_quietly(smtp)
        db.session.rollback()
    return result


def retry_failed_messages(message_ids: Iterable[int] = ()) -> int:
    """Put failed messages back in the queue (all, or the given ids); returns how many.

    For after an operator fixed what made them fail (a wrong SMTP setting,
    a long outage). Attempts start again from zero.
    """
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.FAILED)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    ids = list(message_ids)
    if ids:
        statement = statement.where(OutboxMessage.id.in_(ids))
    return db.session.execute(statement).rowcount


def recent_messages(limit: int = 200) -> list[OutboxMessage]:
    """The newest outbox messages first, rendered (for the development mail viewer)."""
    messages = db.session.scalars(
        select(OutboxMessage)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    return [render_message(message) for message in messages]


def get_message(message_id: int) -> OutboxMessage:
    """One outbox message, rendered, or NotFound."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(_("This message does not exist."))
    return render_message(message)


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001, S110 - the connection is being discarded anyway
            pass
    return None
