"""Production settings for gunicorn: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be changed from the environment, so one file serves every host.
The defaults were chosen by measurement with ``bench/rush.py`` on a 2-core box
(see the README's "Rush benchmark" section).
"""

from __future__ import annotations

import gc
import multiprocessing
import os

# Read before wsgi.py builds the app: gunicorn serves production unless told otherwise.
os.environ.setdefault("CONFERENCE_ENV", "production")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


bind = os.environ.get("GUNICORN_BIND") or os.environ.get("BIND") or "127.0.0.1:8000"

# Threaded workers: one process per core (the GIL keeps a process to one core),
# two threads each, which cover the time a request waits for PostgreSQL. In
# bench/rush.py on the 2-core box, threaded workers served the registration
# rush with ~16 % less server CPU per registration than five sync workers
# (keep-alive connections, fewer processes switching). Once the connections
# were spread evenly (below), fewer threads also waited less: p99 per
# registration 340 to 345 ms with 2 x 2, 362 to 418 with 2 x 4, 353 to 384
# with 3 x 2 and 459 to 492 with 3 x 4 (ratio 0.43 / 0.41 / 0.40 / 0.39): a
# request holding the quota row's lock gets the GIL back sooner when fewer
# threads compete for it.
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count())
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "conference.core.serving.EvenThreadWorker")
threads = _int("GUNICORN_THREADS", 2)

# Kept-alive connections stay with the process that accepted them. Each process
# holds at most this many, so a crowd's connections spread evenly (a rush's 32
# visitors: 16 and 16; with plain gunicorn, measured on three processes, 20, 8
# and 4, where the crowded process's visitors waited eight times as long);
# beyond that, a full process closes its longest-idle connection for a waiting
# one (conference/core/serving.py).
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 16)

# A request that takes this long is stuck; the worker is replaced.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
backlog = _int("GUNICORN_BACKLOG", 2048)

# Recycle workers now and then so a slow leak cannot grow without bound; the
# jitter keeps them from all restarting at the same moment.
max_requests = _int("GUNICORN_MAX_REQUESTS", 10000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 1000)

# Fork after import: workers share the loaded code pages and each opens its own
# database connections (the pool is created lazily, after the fork).
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").strip().lower() in {"1", "true", "yes"}

# The proxy in front terminates TLS and sets X-Forwarded-*; the app trusts it
# through PROXY_COUNT (werkzeug ProxyFix), so gunicorn itself needs no list.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None  # "-" for stdout
errorlog = os.environ.get("GUNICORN_ERRORLOG", "-")
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
proc_name = "conference"


# The cyclic garbage collector: a registration allocates tens of thousands of
# objects, so with Python's default threshold (700) the collector runs many times
# per request, and every full collection walks the whole loaded app (SQLAlchemy,
# Babel, templates). The loaded app is frozen in the master before the fork
# (gc.freeze: never scanned again, and its pages are not dirtied by the
# collector, so the workers keep sharing them), and collections come less often.
# GUNICORN_GC_THRESHOLD=0 leaves Python's defaults.
gc_threshold = _int("GUNICORN_GC_THRESHOLD", 10_000)


def when_ready(server):
    _compile_templates(server)
    if gc_threshold > 0:
        gc.collect()
        gc.freeze()


def _compile_templates(server):
    """Compile every template in the master, so the workers inherit them compiled.

    Otherwise each worker compiles a template the first time a visitor needs it:
    the first registrations after a restart (the confirmation page, its e-mails)
    waited for that while a rush queued behind them.
    """
    app = getattr(server.app, "callable", None)
    env = getattr(app, "jinja_env", None)
    if env is None:  # not preloaded, or not the Flask app itself
        return
    for name in env.list_templates():
        try:
            env.get_template(name)
        except Exception:  # noqa: BLE001 - a broken template fails where it is used, as before
            server.log.exception("could not compile template %s", name)


def post_fork(server, worker):
    if gc_threshold > 0:
        gc.set_threshold(gc_threshold, 10, 10)
    # With preload_app the parent may have touched the database (it did not in
    # create_app, but be safe): drop inherited connections so no two processes
    # share a socket.
    try:
        from conference.core.db import db

        app = getattr(server.app, "callable", None)
        if app is not None and hasattr(app, "app_context"):
            with app.app_context():
                db.engine.dispose(close=False)
    except Exception:  # noqa: BLE001 - never stop a worker from starting over this
        server.log.exception("could not reset the database pool after fork")
