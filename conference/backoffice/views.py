from __future__ import annotations

from flask import Blueprint

bp = Blueprint("backoffice", __name__, url_prefix="/staff")
