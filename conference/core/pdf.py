"""Rendering PDFs with WeasyPrint: one font configuration, a static-only URL fetcher.

Shared by invoices, tickets and name badges. WeasyPrint may only read what we
ship: ``data:`` URIs and files inside the app's static folder. Everything
printed is text typed by buyers and organisers, and an HTML document must never
make the server fetch a URL or read a file on its behalf.
"""

from __future__ import annotations

import mimetypes
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse, path2url

# Building a FontConfiguration asks Fontconfig for every installed font: done
# once per process, not once per document.
FONT_CONFIG = FontConfiguration()

# The shared font configuration holds one Pango font map, and Pango font maps
# are not safe to use from two threads at once (gunicorn runs gthread workers).
RENDER_LOCK = threading.Lock()


class StaticOnlyFetcher(URLFetcher):
    """Fetches ``data:`` URIs and files under one folder; refuses everything else.

    WeasyPrint catches the ``ValueError`` of a refused URL, logs it and renders
    the document without that resource.
    """

    def __init__(self, static_folder: str | Path) -> None:
        super().__init__(allowed_protocols={"data"}, allow_redirects=False, timeout=1)
        self.static_folder = Path(static_folder).resolve()
        self.base_url = path2url(str(self.static_folder) + "/")

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            return self._static_file(url)
        raise ValueError(f"only data: URIs and static files may be fetched, not {url[:80]!r}")

    def _static_file(self, url: str) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"not a local file: {url[:80]!r}")
        # resolve() follows "..", symlinks included, before the containment check.
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.static_folder) or not path.is_file():
            raise ValueError(f"not a static file: {url[:80]!r}")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(
            path2url(str(path)), path.read_bytes(), headers={"Content-Type": media_type}
        )


def static_fetcher() -> StaticOnlyFetcher:
    return StaticOnlyFetcher(current_app.static_folder)


# Control characters (C0 but tab and line breaks, DEL, C1) have no glyph: a name
# pasted with one would print as a box. Our templates hold none, so they are taken
# out of the whole document.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Parsed once per static folder and stylesheet: parsing is a tenth of a render.
_stylesheets: dict[tuple[Path, str], CSS] = {}


def stylesheet(fetcher: StaticOnlyFetcher, path: str) -> CSS:
    """The parsed stylesheet at ``path`` (relative to the static folder), kept for next time."""
    key = (fetcher.static_folder, path)
    parsed = _stylesheets.get(key)
    if parsed is None:
        parsed = CSS(url=fetcher.base_url + path, url_fetcher=fetcher, font_config=FONT_CONFIG)
        _stylesheets[key] = parsed
    return parsed


def render_pdf(html: str, stylesheet_path: str) -> bytes:
    """Render HTML with one of our static stylesheets to PDF bytes (fonts subset)."""
    fetcher = static_fetcher()
    html = _UNPRINTABLE.sub("", html)
    with RENDER_LOCK:
        document = HTML(string=html, base_url=fetcher.base_url, url_fetcher=fetcher)
        return document.write_pdf(
            stylesheets=[stylesheet(fetcher, stylesheet_path)], font_config=FONT_CONFIG
        )
