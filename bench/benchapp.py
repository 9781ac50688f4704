"""The production app plus one benchmark-only endpoint, for ``bench/rush.py``.

``POST /_bench/ping-write`` inserts one audit row and commits through the
app's normal database layer (Flask-SQLAlchemy session, same engine options,
same request hooks). It is the yardstick a registration is compared with:
the cheapest request that still costs one commit.

``POST /_bench/claim/<quota_id>`` (``rush.py --floor``) is a registration with
everything but the claim taken out: the capacity rule's conditional write on
the quota row (claim_places), one audit row and the commit, then the same 303
to a page. What the rush measures against it is the ceiling of the design
itself, whatever the registration does around the claim.

The routes exist only in this module; ``wsgi:app`` never has them.

Served by ``gunicorn -c gunicorn.conf.py 'bench.benchapp:create_app()'``.
"""

from __future__ import annotations

import os

from flask import Blueprint, Flask, redirect

from conference import create_app as create_conference_app
from conference.core.db import db
from conference.core.security import csrf
from conference.core.services import record_audit
from conference.events.services import claim_places

bp = Blueprint("bench", __name__)


@bp.post("/_bench/ping-write")
def ping_write():
    record_audit("bench", "bench.ping", "bench")
    db.session.commit()
    return "ok"


@bp.post("/_bench/claim/<int:quota_id>")
def claim(quota_id: int):
    if not claim_places(quota_id, 1):
        db.session.rollback()
        return '<p data-outcome="full">full</p>', 409
    record_audit("bench", "bench.claim", "bench")
    db.session.commit()
    return redirect("/_bench/claimed", 303)


@bp.get("/_bench/claimed")
def claimed():
    return "<p>claimed</p>"


def create_app() -> Flask:
    """The app as ``wsgi.py`` builds it (production settings from the environment).

    ``BENCH_RATELIMIT_KEY_PREFIX``: the run's prefix for its rate-limit keys in a
    shared store (``rush.py --servers 2``), so it finds and deletes its own keys only.
    """
    prefix = os.environ.get("BENCH_RATELIMIT_KEY_PREFIX")
    app = create_conference_app(overrides={"RATELIMIT_KEY_PREFIX": prefix} if prefix else None)
    # A machine endpoint with no form and no session: nothing to forge.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    return app
