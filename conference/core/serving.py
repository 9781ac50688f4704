"""The gunicorn worker the production settings use (see gunicorn.conf.py).

gunicorn's threaded worker keeps a client's connection open between requests
(keep-alive), and the connection stays with the worker process that accepted
it. Which process accepts is a race: when a rush's visitors connect at once,
one process may take twenty connections and another four. Each process gets
about the same share of the CPU (the GIL keeps it to one core at most), so the
visitors on the crowded process waited eight times as long as the others for
the same registration (measured with bench/rush.py: per-visitor mean 75 ms on
one process, 580 ms on the other two). First come, first served should hold
for the answers too.

``EvenThreadWorker`` caps the connections a process holds (``worker_connections``,
which gunicorn already uses to stop accepting), so the rest go to the processes
with room: 32 connections over two processes capped at 16 become 16 and 16. Unlike
plain gunicorn it does not force a kept-alive connection closed for being one
of many; instead, once a full process sees a new connection waiting that no
other process took within a moment (``MAKE_ROOM_AFTER``), it closes its
longest-idle connection to make room, so a crowd larger than the caps is still
served (a browser reconnects transparently).
"""

from __future__ import annotations

import select
import time

from gunicorn.workers.gthread import ThreadWorker

# How long a new connection may wait for a process with room before a full
# process closes an idle one for it: long enough for another process to accept
# it (they all watch the same socket), short against a browser's patience.
MAKE_ROOM_AFTER = 0.1


class EvenThreadWorker(ThreadWorker):
    """gthread, holding no more than its share of the connections (``worker_connections``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._saw_one_waiting_at: float | None = None
        # Full processes see a waiting connection at the same moment; if they also
        # waited the same time, each would close a connection for the one
        # newcomer. Staggered by the worker's number, the first to wait out its
        # turn makes room and takes it, and the others find nobody waiting.
        self._make_room_after = MAKE_ROOM_AFTER * (1 + self.age % max(self.cfg.workers, 1))
        # The cap on connections spreads them over the processes; closing
        # kept-alive ones whenever a few are idle (gunicorn's rule) would only
        # make clients reconnect.
        self.max_keepalived = self.worker_connections

    @classmethod
    def check_config(cls, cfg, log) -> None:
        # No warning about "worker_connections - threads" kept-alive connections:
        # this worker keeps up to worker_connections alive.
        return None

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # A full process looks for waiting connections often (gunicorn's loop
        # wakes once a second otherwise), since it no longer watches the socket.
        if self._full_with_idle_connections():
            timeout = min(timeout, MAKE_ROOM_AFTER / 2)
        super().wait_for_and_dispatch_events(timeout)

    def murder_keepalived(self, force: bool = False) -> None:
        """Close timed-out kept-alive connections, and the longest-idle one if someone waits."""
        super().murder_keepalived(force=force)
        if not force and self._room_is_wanted():
            # The longest-idle connection is first in line: let gunicorn's own
            # sweep close it as if its keep-alive had run out.
            self.keepalived_conns[0].timeout = 0
            super().murder_keepalived()

    def _full_with_idle_connections(self) -> bool:
        return self.nr_conns >= self.worker_connections and bool(self.keepalived_conns)

    def _room_is_wanted(self) -> bool:
        """Full, and a new connection has waited ``MAKE_ROOM_AFTER`` for any process."""
        waiting = (
            self.alive and self._full_with_idle_connections() and self._a_connection_is_waiting()
        )
        if not waiting:
            self._saw_one_waiting_at = None
            return False
        now = time.monotonic()
        if self._saw_one_waiting_at is None:
            self._saw_one_waiting_at = now
            return False
        if now - self._saw_one_waiting_at < self._make_room_after:
            return False
        self._saw_one_waiting_at = None
        return True

    def _a_connection_is_waiting(self) -> bool:
        try:
            readable, _, _ = select.select(self.sockets, [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)
