"""Absolute links for e-mails, built with or without a request (the worker has none)."""

from __future__ import annotations

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """The absolute public URL of an endpoint, based on PUBLIC_BASE_URL."""
    adapter = current_app.url_map.bind("localhost", url_scheme="http")
    path = adapter.build(endpoint, values, force_external=False)
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path
