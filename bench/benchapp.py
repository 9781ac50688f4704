"""The production app plus one benchmark-only endpoint, for ``bench/rush.py``.

``POST /_bench/ping-write`` inserts one audit row and commits through the
app's normal database layer (Flask-SQLAlchemy session, same engine options,
same request hooks). It is the yardstick a registration is compared with:
the cheapest request that still costs one commit. The route exists only in
this module; ``wsgi:app`` never has it.

Served by ``gunicorn -c gunicorn.conf.py 'bench.benchapp:create_app()'``.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from conference import create_app as create_conference_app
from conference.core.db import db
from conference.core.security import csrf
from conference.core.services import record_audit

bp = Blueprint("bench", __name__)


@bp.post("/_bench/ping-write")
def ping_write():
    record_audit("bench", "bench.ping", "bench")
    db.session.commit()
    return "ok"


def create_app() -> Flask:
    """The app as ``wsgi.py`` builds it (production settings from the environment)."""
    app = create_conference_app()
    # A machine endpoint with no form and no session: nothing to forge.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    return app
