"""The record that an edition's personal data was erased, and the links it retired.

Neither table holds personal data: an erasure keeps only counts, and a retired
link only a digest of its token's hash, so an old manage link can say that its
data was erased instead of "not valid".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from conference.core.db import db, utcnow


class EditionErasure(db.Model):
    __tablename__ = "edition_erasure"

    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), primary_key=True)
    #: The first erasure; a later run (idempotent) leaves it and adds to ``last_run_at``.
    erased_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    erased_by: Mapped[str] = mapped_column(String(80))
    last_run_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: What the first run removed, per kind of row: {"attendees": 12, ...}.
    counts: Mapped[dict] = mapped_column(JSON, default=dict)


class ErasedLink(db.Model):
    __tablename__ = "erased_link"

    #: ``link_digest(hash_token(token))``: never equal to a live token hash.
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
