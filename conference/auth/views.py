from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/staff")


@bp.get("/login")
def login():
    return "login"
