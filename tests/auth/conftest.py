"""In the tests every request shares the app context the ``app`` fixture pushed, so
Flask-Login's user cached in ``g`` would leak from one test client to the next. In
production each request has its own context: forget the cached user per request."""

from __future__ import annotations

import pytest
from flask import g


@pytest.fixture(autouse=True)
def _fresh_login_per_request(app):
    @app.before_request
    def forget_cached_user():
        g.pop("_login_user", None)
