"""Small helpers shared by the mail tests."""

from __future__ import annotations

import base64
import re

from sqlalchemy import select

from conference.core.db import db
from conference.mail.models import OutboxMessage
from conference.mail.services import render_message

MANAGE_LINK = re.compile(r"http://localhost(/m/[A-Za-z0-9_-]+)")


def outbox(kind: str | None = None, to: str | None = None) -> list[OutboxMessage]:
    """The outbox, oldest first, every message rendered as the worker renders it."""
    statement = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        statement = statement.where(OutboxMessage.kind == kind)
    if to:
        statement = statement.where(OutboxMessage.to_address == to)
    return [render_message(message) for message in db.session.scalars(statement)]


def mail_texts(kind: str, to: str | None = None) -> list[str]:
    """The text bodies of one kind of message (to one address), oldest first."""
    return [message.body_text for message in outbox(kind, to)]


def attachment_bytes(message: OutboxMessage, index: int = 0) -> bytes:
    return base64.b64decode(message.attachments[index]["data_b64"])


def manage_path(text: str) -> str:
    match = MANAGE_LINK.search(text)
    assert match, "no manage link in the mail"
    return match.group(1)
