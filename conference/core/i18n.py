"""Danish by default, English available: the language a page and an e-mail use."""

from __future__ import annotations

from babel.support import NullTranslations
from flask import Flask, current_app, g, request, session
from flask_babel import Babel, force_locale, get_locale, get_translations, refresh  # noqa: F401
from jinja2 import pass_context
from markupsafe import Markup

babel = Babel()

# The English pages are read in Denmark: British dates and a 24-hour clock
# ("Monday 5 April 2027, 08:30"), not American ones.
_BABEL_LOCALES = {"da": "da", "en": "en_GB"}


def babel_locale(language: str) -> str:
    """The Babel locale that formats dates and numbers for a language code."""
    return _BABEL_LOCALES.get(language, language)


def select_locale() -> str:
    """?lang= switches and remembers; otherwise the session, else Danish."""
    languages = current_app.config["LANGUAGES"]
    if getattr(g, "forced_locale", None) in languages:
        return babel_locale(g.forced_locale)
    if request:
        asked = request.args.get("lang")
        if asked in languages:
            session["lang"] = asked
            return babel_locale(asked)
        remembered = session.get("lang")
        if remembered in languages:
            return babel_locale(remembered)
    return babel_locale(current_app.config["BABEL_DEFAULT_LOCALE"])


def current_language() -> str:
    """The language code of the current page or e-mail: "da" or "en"."""
    locale = get_locale()
    return locale.language if locale is not None else "da"


_NO_TRANSLATIONS = NullTranslations()


def _translations():
    """Flask-Babel's catalogue for the current locale, remembered on the request.

    Flask-Babel resolves domain, locale and catalogue anew for every string; a
    page or an e-mail asks for dozens. The catalogue is kept next to the locale
    object it belongs to, so ``refresh()`` and ``force_locale()`` (which replace
    that object) are followed at once.
    """
    # ``g`` itself once: each access through the proxy costs a context lookup,
    # and an e-mail asks for dozens of strings.
    try:
        app_g = g._get_current_object()
    except RuntimeError:
        return _NO_TRANSLATIONS
    ctx = getattr(app_g, "_flask_babel", None)
    locale = getattr(ctx, "babel_locale", None) if ctx is not None else None
    if locale is None:
        locale = get_locale()
        ctx = app_g._flask_babel
    cached = getattr(ctx, "conference_translations", None)
    if cached is not None and cached[0] is locale:
        return cached[1]
    translations = get_translations()
    ctx.conference_translations = (locale, translations)
    return translations


def _trusted(text: str) -> Markup:
    # Our own msgids and catalogue, as Jinja's newstyle gettext treats them; the
    # variables formatted into it are escaped by Markup's "%".
    return Markup(text)  # noqa: S704


# Jinja's i18n extension with newstyle gettext, as Flask-Babel installs it, but
# with the catalogue looked up once per locale instead of once per string.
@pass_context
def _jinja_gettext(context, string: str, **variables) -> str:
    text = _translations().ugettext(string)
    if context.eval_ctx.autoescape:
        text = _trusted(text)
    # Like Jinja's newstyle gettext: always a format string, so "%%" reads "%".
    return text % variables


@pass_context
def _jinja_ngettext(context, singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    text = _translations().ungettext(singular, plural, num)
    if context.eval_ctx.autoescape:
        text = _trusted(text)
    return text % variables


@pass_context
def _jinja_pgettext(context, message_context: str, string: str, **variables) -> str:
    variables.setdefault("context", message_context)
    text = _translations().upgettext(message_context, string)
    if context.eval_ctx.autoescape:
        text = _trusted(text)
    return text % variables


@pass_context
def _jinja_npgettext(
    context, message_context: str, singular: str, plural: str, num: int, **variables
) -> str:
    variables.setdefault("context", message_context)
    variables.setdefault("num", num)
    text = _translations().unpgettext(message_context, singular, plural, num)
    if context.eval_ctx.autoescape:
        text = _trusted(text)
    return text % variables


def init_i18n(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    # After Flask-Babel installed the i18n extension (newstyle): same names, cheaper.
    app.jinja_env.globals.update(
        gettext=_jinja_gettext,
        _=_jinja_gettext,
        ngettext=_jinja_ngettext,
        pgettext=_jinja_pgettext,
        npgettext=_jinja_npgettext,
    )

    @app.before_request
    def choose_language_afresh() -> None:
        # Flask-Babel caches the locale on ``g``; when several requests share one app
        # context (the test client inside an app fixture) a language must not carry over.
        g.pop("forced_locale", None)
        refresh()
