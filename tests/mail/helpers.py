"""Small helpers shared by the mail tests."""

from __future__ import annotations

import base64
import re

from sqlalchemy import select

from conference.core.db import db
from conference.mail.models import OutboxMessage

MANAGE_LINK = re.compile(r"http://localhost(/m/[A-Za-z0-9_-]+)")


def outbox(kind: str | None = None) -> list[OutboxMessage]:
    statement = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        statement = statement.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(statement))


def attachment_bytes(message: OutboxMessage, index: int = 0) -> bytes:
    return base64.b64decode(message.attachments[index]["data_b64"])


def manage_path(text: str) -> str:
    match = MANAGE_LINK.search(text)
    assert match, "no manage link in the mail"
    return match.group(1)
