"""Filters and globals every template may use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask, request, url_for
from flask_babel import (
    format_date,
    format_datetime,
    format_time,
    get_locale,
    get_timezone,
    gettext,
)

from conference.core.i18n import current_language
from conference.core.money import format_dkk

# A page or an e-mail shows the same few moments (the event's start and end, the
# deadlines) again and again, and a rush renders thousands of them; Babel builds
# every string afresh. The result depends only on the moment, the style, the
# locale and the time zone it is shown in, which together are the key.
_FORMATTED_LIMIT = 2048
_formatted: dict[tuple, str] = {}


def _formatted_moment(formatter: Callable[..., str], value: datetime | None, style: str) -> str:
    if value is None:
        # Babel's "now": never the same twice.
        return formatter(value, style)
    key = (formatter, value, style, get_locale(), get_timezone())
    text = _formatted.get(key)
    if text is None:
        text = formatter(value, style)
        if len(_formatted) >= _FORMATTED_LIMIT:
            _formatted.clear()
        _formatted[key] = text
    return text


def init_templating(app: Flask) -> None:
    @app.template_filter("dkk")
    def dkk_filter(ore: int) -> str:
        return format_dkk(ore, current_language())

    @app.template_filter("date")
    def date_filter(value: datetime, style: str = "long") -> str:
        return _formatted_moment(format_date, value, style)

    @app.template_filter("datetime")
    def datetime_filter(value: datetime, style: str = "medium") -> str:
        return _formatted_moment(format_datetime, value, style)

    @app.template_filter("when")
    def when_filter(value: datetime) -> str:
        """A moment as people write it: date and hour, no seconds or zone."""
        return gettext(
            "%(date)s at %(time)s",
            date=_formatted_moment(format_date, value, "long"),
            time=_formatted_moment(format_time, value, "short"),
        )

    @app.template_filter("time")
    def time_filter(value: datetime, style: str = "short") -> str:
        return _formatted_moment(format_time, value, style)

    @app.context_processor
    def inject_language():
        def url_for_language(language: str) -> str:
            args = dict(request.view_args or {})
            args.update(request.args.to_dict())
            args["lang"] = language
            endpoint = request.endpoint or "events.index"
            try:
                return url_for(endpoint, **args)
            except Exception:
                return url_for("events.index", lang=language)

        return {"current_language": current_language(), "url_for_language": url_for_language}
