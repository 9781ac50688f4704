"""The production gunicorn settings (gunicorn.conf.py) and their garbage-collector hooks."""

from __future__ import annotations

import gc
import http.client
import multiprocessing
import os
import runpy
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.mail.conftest import free_port

CONFIG = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def _settings(monkeypatch, **env) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def _fork_hooks(settings: dict) -> None:
    """What gunicorn calls: when_ready in the master, then post_fork in each worker."""
    server = SimpleNamespace(app=SimpleNamespace(callable=None), log=None)
    settings["when_ready"](server)
    settings["post_fork"](server, None)


def test_the_loaded_app_is_frozen_and_collections_come_less_often(monkeypatch, restore_gc):
    settings = _settings(monkeypatch)
    gc.unfreeze()
    _fork_hooks(settings)
    assert gc.get_freeze_count() > 1000  # the app the master loaded
    assert gc.get_threshold()[0] == 10_000


def test_the_threshold_is_set_from_the_environment_and_zero_leaves_python_alone(
    monkeypatch, restore_gc
):
    _fork_hooks(_settings(monkeypatch, GUNICORN_GC_THRESHOLD="25000"))
    assert gc.get_threshold()[0] == 25_000

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    _fork_hooks(_settings(monkeypatch, GUNICORN_GC_THRESHOLD="0"))
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == (700, 10, 10)


def test_the_master_compiles_every_template_before_the_fork(monkeypatch, restore_gc, app):
    # A fresh worker's first visitors should not wait while their pages compile.
    app.jinja_env.cache.clear()
    server = SimpleNamespace(app=SimpleNamespace(callable=app), log=None)
    _settings(monkeypatch)["when_ready"](server)
    names = app.jinja_env.list_templates()
    assert "registration/manage.html" in names
    assert len(app.jinja_env.cache) == len(names)


def test_threaded_workers_by_default(monkeypatch):
    settings = _settings(monkeypatch)
    assert settings["worker_class"] == "conference.core.serving.EvenThreadWorker"
    assert settings["workers"] == multiprocessing.cpu_count()
    assert settings["threads"] == 2
    assert settings["worker_connections"] == 16
    assert settings["preload_app"] is True


# --- connections spread over the workers -------------------------------------------


@pytest.fixture
def two_workers(tmp_path):
    """gunicorn with gunicorn.conf.py, two workers holding two connections each."""
    port = free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "1",
        "GUNICORN_WORKER_CONNECTIONS": "2",
        "GUNICORN_KEEPALIVE": "30",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            str(CONFIG),
            "tests.core.pid_app:app",
        ],
        cwd=CONFIG.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Until both workers answer: while only the first one has booted, a full
        # worker would rightly make room for a third connection (a busy machine
        # once took long enough over the second one to fail the spread below).
        deadline = time.monotonic() + 20
        answered: set[int] = set()
        while len(answered) < 2:
            try:
                connection = _get(http.client.HTTPConnection("127.0.0.1", port, timeout=2))
                answered.add(connection.last_pid)
                connection.close()
            except OSError:
                pass
            if len(answered) < 2:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError((tmp_path / "gunicorn.log").read_text())
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _get(connection: http.client.HTTPConnection) -> http.client.HTTPConnection:
    connection.request("GET", "/")
    response = connection.getresponse()
    connection.last_pid = int(response.read())
    return connection


def test_kept_alive_connections_spread_evenly_over_the_workers(two_workers):
    connections = [
        _get(http.client.HTTPConnection("127.0.0.1", two_workers, timeout=5)) for _ in range(4)
    ]
    try:
        # Plain gunicorn lets whichever worker wins the race take them all.
        assert sorted(Counter(c.last_pid for c in connections).values()) == [2, 2]
        # Kept alive: the next request on each goes to the same worker.
        for connection in connections:
            pid = connection.last_pid
            assert _get(connection).last_pid == pid
    finally:
        for connection in connections:
            connection.close()


def test_a_connection_beyond_the_caps_is_served_and_an_idle_one_makes_room(two_workers):
    connections = [
        _get(http.client.HTTPConnection("127.0.0.1", two_workers, timeout=5)) for _ in range(4)
    ]
    try:
        began = time.monotonic()
        newcomer = _get(http.client.HTTPConnection("127.0.0.1", two_workers, timeout=5))
        assert time.monotonic() - began < 2
        closed = 0
        for connection in connections:
            try:
                _get(connection)
            except (http.client.RemoteDisconnected, ConnectionError):
                closed += 1
        # The longest-idle connection of one worker was closed for the newcomer.
        assert closed == 1
        newcomer.close()
    finally:
        for connection in connections:
            connection.close()
