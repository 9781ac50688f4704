"""Danish by default, English available: the language a page and an e-mail use."""

from __future__ import annotations

from flask import Flask, current_app, g, request, session
from flask_babel import Babel, force_locale, get_locale, refresh  # noqa: F401  (re-exported)

babel = Babel()


def select_locale() -> str:
    """?lang= switches and remembers; otherwise the session, else Danish."""
    languages = current_app.config["LANGUAGES"]
    if getattr(g, "forced_locale", None) in languages:
        return g.forced_locale
    if request:
        asked = request.args.get("lang")
        if asked in languages:
            session["lang"] = asked
            return asked
        remembered = session.get("lang")
        if remembered in languages:
            return remembered
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    return str(get_locale() or "da")


def init_i18n(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)

    @app.before_request
    def choose_language_afresh() -> None:
        # Flask-Babel caches the locale on ``g``; when several requests share one app
        # context (the test client inside an app fixture) a language must not carry over.
        g.pop("forced_locale", None)
        refresh()
