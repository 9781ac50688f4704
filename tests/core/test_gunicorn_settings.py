"""The production gunicorn settings (gunicorn.conf.py) and their garbage-collector hooks."""

from __future__ import annotations

import gc
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

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


def test_threaded_workers_by_default(monkeypatch):
    settings = _settings(monkeypatch)
    assert settings["worker_class"] == "gthread"
    assert settings["threads"] == 4
    assert settings["preload_app"] is True
