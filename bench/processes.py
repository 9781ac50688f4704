"""A process the benchmarks start and stop: its own session, its output in a log file."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


class LoggedProcess:
    """``command`` run in its own session (so it and its children stop together),
    with stdout and stderr in ``log_path``."""

    #: Lines of the log ``tail`` shows when a run fails.
    tail_lines = 40

    def __init__(self, command: list[str], cwd: Path, env: dict, log_path: Path) -> None:
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """SIGTERM, and after 30 s SIGKILL to the whole session."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()

    def tail(self, lines: int | None = None) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-(lines or self.tail_lines) :])
