"""Public registration pages (placeholder routes, filled in by the registration views work)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("registration", __name__)


@bp.get("/e/<slug>/register")
def register(slug: str):
    return "register"


@bp.get("/m/<token>")
def manage(token: str):
    return "manage"


@bp.get("/w/<token>")
def waiting_entry(token: str):
    return "waiting"
