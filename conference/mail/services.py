"""Queueing e-mail in the outbox, and sending what is due.

A message is rendered when the change it reports happens and written in the
same transaction, so it exists exactly when the change was committed. The
worker (``flask --app wsgi outbox run``) sends it later; no request sends mail.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app, render_template
from flask_babel import force_locale

from conference.core.db import db
from conference.mail.models import OutboxMessage


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


def render_mail(template: str, language: str, **context) -> tuple[str, str, str | None]:
    """Render ``mail/<template>.txt`` (and ``.html`` if it exists) in a language.

    The text template sets the subject with ``{% set subject = ... %}`` at top level.
    Returns (subject, text body, html body or None).
    """
    env = current_app.jinja_env
    with force_locale(language):
        context.setdefault("language", language)
        text_template = env.get_template(f"mail/{template}.txt")
        module = text_template.make_module(_with_globals(context))
        subject = str(getattr(module, "subject", "")).strip()
        body_text = str(module).strip() + "\n"
        try:
            env.get_template(f"mail/{template}.html")
        except Exception:
            body_html = None
        else:
            body_html = render_template(f"mail/{template}.html", subject=subject, **context)
    return subject, body_text, body_html


def _with_globals(context: dict) -> dict:
    # make_module does not run Flask's context processors; add what mail templates use.
    merged = dict(current_app.jinja_env.globals)
    merged.update(context)
    return merged


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
    subject, body_text, body_html = render_mail(template, language, **context)
    message = OutboxMessage(
        kind=kind,
        to_address=to,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        attachments=[a.to_json() for a in attachments],
        language=language,
        order_id=order_id,
    )
    db.session.add(message)
    return message


# --- sending --------------------------------------------------------------------


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0


def build_email(message: OutboxMessage):
    """The MIME message for an outbox row."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=True)
    email["Message-ID"] = make_msgid(idstring=f"outbox{message.id}")
    email["Content-Language"] = message.language
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    for attachment in message.attachments or []:
        maintype, _, subtype = attachment["content_type"].partition("/")
        subtype = subtype.split(";")[0].strip()
        email.add_attachment(
            base64.b64decode(attachment["data_b64"]),
            maintype=maintype,
            subtype=subtype,
            filename=attachment["filename"],
        )
    return email


def _smtp_connection():
    import smtplib

    config = current_app.config
    if config["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
        )
    else:
        smtp = smtplib.SMTP(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
        )
        if config["MAIL_USE_STARTTLS"]:
            smtp.starttls()
    if config["MAIL_USERNAME"]:
        smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
    return smtp


def retry_delay_seconds(attempts: int) -> int:
    """Backoff after a failed attempt: 1, 2, 4 ... minutes, at most an hour."""
    return min(60 * 2 ** max(attempts - 1, 0), 3600)


def send_due_messages(limit: int = 100) -> SendResult:
    """Send outbox messages that are due, one transaction per message.

    Each message is locked while it is sent (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL), so several workers never send the same message twice.
    A failure is recorded and retried later with backoff.
    """
    from datetime import timedelta

    from sqlalchemy import select

    from conference.core.db import utcnow
    from conference.mail.models import OutboxStatus

    result = SendResult()
    smtp = None
    try:
        for _ in range(limit):
            message = db.session.scalar(
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.next_attempt_at <= utcnow(),
                )
                .order_by(OutboxMessage.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if message is None:
                break
            try:
                if smtp is None:
                    smtp = _smtp_connection()
                smtp.send_message(build_email(message))
            except Exception as error:  # noqa: BLE001 - any SMTP or network failure
                smtp = _close_quietly(smtp)
                message.attempts += 1
                message.last_error = f"{type(error).__name__}: {error}"[:2000]
                if message.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
                    message.status = OutboxStatus.FAILED
                    result.gave_up += 1
                else:
                    message.next_attempt_at = utcnow() + timedelta(
                        seconds=retry_delay_seconds(message.attempts)
                    )
                result.failed += 1
                db.session.commit()
                # The server is probably down: stop this round, the backoff retries later.
                break
            message.attempts += 1
            message.status = OutboxStatus.SENT
            message.sent_at = utcnow()
            message.last_error = None
            db.session.commit()
            result.sent += 1
    finally:
        _close_quietly(smtp)
        db.session.rollback()
    return result


def _close_quietly(smtp) -> None:
    if smtp is not None:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001, S110 - the connection is being discarded anyway
            pass
    return None
