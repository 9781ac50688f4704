"""Public event pages."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

from conference.core.i18n import current_language
from conference.events import services

bp = Blueprint("events", __name__)


@bp.get("/")
def index():
    edition = services.current_edition()
    if edition is None:
        return render_template("events/no_edition.html")
    return redirect(url_for("events.edition", slug=edition.slug))


@bp.get("/e/<slug>")
def edition(slug: str):
    edition = services.get_edition(slug)
    return render_template(
        "events/edition.html", **services.event_page(edition, current_language())
    )
