"""Filters and globals every template may use."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, request, url_for
from flask_babel import format_date, format_datetime, format_time

from conference.core.i18n import current_language
from conference.core.money import format_dkk


def init_templating(app: Flask) -> None:
    @app.template_filter("dkk")
    def dkk_filter(ore: int) -> str:
        return format_dkk(ore, current_language())

    @app.template_filter("date")
    def date_filter(value: datetime, style: str = "long") -> str:
        return format_date(value, style)

    @app.template_filter("datetime")
    def datetime_filter(value: datetime, style: str = "medium") -> str:
        return format_datetime(value, style)

    @app.template_filter("when")
    def when_filter(value: datetime) -> str:
        """A moment as people write it: date and hour, no seconds or zone."""
        return f"{format_date(value, 'long')}, {format_time(value, 'short')}"

    @app.template_filter("time")
    def time_filter(value: datetime, style: str = "short") -> str:
        return format_time(value, style)

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
