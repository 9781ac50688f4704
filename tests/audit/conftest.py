"""One login per request, as in production (see tests/auth/conftest.py)."""

from __future__ import annotations

from tests.auth.conftest import _fresh_login_per_request as _fresh_login_per_request  # noqa: F401
