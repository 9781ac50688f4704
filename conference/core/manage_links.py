"""What every page behind a manage link (or a link from an e-mail) does alike.

Shared by the registration, transfer, ticket and payment pages, so the rules
for privacy, rate limits and language are written once.
"""

from __future__ import annotations

from flask import Response, current_app, g, request, session
from flask_babel import refresh as refresh_locale


def manage_limit() -> str:
    """The rate limit of manage links (Flask-Limiter reads it per request)."""
    return current_app.config["MANAGE_RATE_LIMIT"]


def private(response: Response) -> Response:
    """Pages behind a manage link carry personal data: keep them out of caches and indexes."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def speak_language_of(language: str) -> None:
    """Show the page in the language of the registration, unless the visitor chose one.

    Someone opening a link from an e-mail has no session yet; ``?lang=`` or an
    earlier choice in this browser wins.
    """
    if "lang" in request.args or session.get("lang") in current_app.config["LANGUAGES"]:
        return
    if language in current_app.config["LANGUAGES"]:
        g.forced_locale = language
        refresh_locale()
