"""Sending a rush's outbox with real workers, and checking each e-mail went out once.

For ``bench/rush.py --servers 2``: after the rush, ``--outbox-workers`` processes
of the production worker (``flask --app wsgi outbox run``) send the outbox at
once to an SMTP sink in the benchmark's process (aiosmtpd on 127.0.0.1), and
the sink's record is compared with the outbox rows. Each message is known by
the outbox id in its Message-ID (``<outbox.<id>.<created>@<domain>>``, set by
``build_email`` and the same on every attempt), so a message sent twice shows
as two copies of one id, whichever worker sent them.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.controller import Controller

from bench.processes import LoggedProcess

HOST = "127.0.0.1"
OUTBOX_ID_RE = re.compile(r"<outbox\.(\d+)\.")
#: What the worker prints after a round that sent something (conference/mail/commands.py).
SENT_LINE_RE = re.compile(r"^Sent (\d+), failed (\d+), gave up (\d+)\.$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Received:
    """One message as the sink took it: its Message-ID and envelope recipients."""

    message_id: str
    recipients: tuple[str, ...]

    @property
    def outbox_id(self) -> int | None:
        match = OUTBOX_ID_RE.match(self.message_id)
        return int(match.group(1)) if match else None


class SinkHandler:
    """aiosmtpd handler that keeps the headers' Message-ID and the envelope, not the body."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []

    async def handle_DATA(self, server, session, envelope):
        headers = BytesHeaderParser().parsebytes(envelope.content)
        item = Received(str(headers.get("Message-ID", "")).strip(), tuple(envelope.rcpt_tos))
        with self._lock:
            self._received.append(item)
        return "250 Message accepted for delivery"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)


class SmtpSink:
    """A local SMTP server that accepts everything and records what it got."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        # 64 MiB: a confirmation carries an invoice PDF, a ticket a ticket PDF.
        self._controller = Controller(
            self.handler, hostname=HOST, port=self.port, data_size_limit=64 * 1024 * 1024
        )

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    def received(self) -> list[Received]:
        return self.handler.received()


def delivery_report(rows: dict[int, dict], received: list[Received]) -> dict:
    """Compare the outbox rows with what the SMTP server received.

    ``rows``: outbox id -> {"to_address", "status", "attempts"}. Every row must
    have arrived exactly once, at its own address, and be marked sent after one
    attempt; the sink must have got nothing that is not an outbox row.
    """
    copies = Counter(item.outbox_id for item in received)
    wrong_recipient = [
        item.outbox_id
        for item in received
        if item.outbox_id in rows and item.recipients != (rows[item.outbox_id]["to_address"],)
    ]
    missing = sorted(set(rows) - set(copies))
    duplicates = {
        outbox_id: count for outbox_id, count in copies.items() if outbox_id in rows and count > 1
    }
    unexpected = sum(count for outbox_id, count in copies.items() if outbox_id not in rows)
    not_marked_sent = sorted(i for i, row in rows.items() if row["status"] != "sent")
    retried = sorted(i for i, row in rows.items() if row["attempts"] != 1)
    report = {
        "emails_expected": len(rows),
        "emails_received": len(received),
        "delivered_once": sum(1 for i in rows if copies.get(i) == 1),
        "duplicates": sum(count - 1 for count in duplicates.values()),
        "missing": len(missing),
        "unexpected": unexpected,
        "wrong_recipient": len(wrong_recipient),
        "db_not_marked_sent": len(not_marked_sent),
        "db_more_than_one_attempt": len(retried),
    }
    report["exactly_once"] = (
        report["delivered_once"] == len(rows)
        and len(received) == len(rows)
        and not (wrong_recipient or not_marked_sent or unexpected)
    )
    samples = {
        "missing": missing[:5],
        "duplicates": sorted(duplicates)[:5],
        "wrong_recipient": wrong_recipient[:5],
        "not_marked_sent": not_marked_sent[:5],
    }
    samples = {key: value for key, value in samples.items() if value}
    if samples:
        report["delivery_samples"] = samples
    return report


def outbox_rows(dsn: str) -> dict[int, dict]:
    """Every outbox row's address, status and attempts, by id."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, to_address, status, attempts FROM outbox_message")
        return {
            row[0]: {"to_address": row[1], "status": row[2], "attempts": row[3]} for row in rows
        }


def pending_count(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        query = "SELECT count(*) FROM outbox_message WHERE status = 'pending'"
        return int(conn.execute(query).fetchone()[0])


class Worker(LoggedProcess):
    """One ``flask --app wsgi outbox run`` process, the production worker as deployed."""

    tail_lines = 30

    def __init__(self, root: Path, env: dict, log_path: Path) -> None:
        flask = Path(sys.executable).with_name("flask")
        super().__init__(
            [str(flask), "--app", "wsgi", "outbox", "run", "--interval", "1"], root, env, log_path
        )

    def sent(self) -> int:
        """Messages this worker reported sent."""
        text = self.log_path.read_text(errors="replace")
        return sum(int(match.group(1)) for match in SENT_LINE_RE.finditer(text))


def deliver(
    root: Path, env: dict, dsn: str, workers: int, log_dir: Path, name: str, timeout_s: float
) -> dict:
    """Run ``workers`` outbox workers at once until nothing is pending; check the delivery."""
    with SmtpSink() as sink:
        worker_env = dict(
            env, MAIL_SERVER=HOST, MAIL_PORT=str(sink.port), MAIL_TIMEOUT="30", PYTHONUNBUFFERED="1"
        )
        started = time.perf_counter()
        running = [
            Worker(root, worker_env, log_dir / f"{name}-outbox-{i + 1}.log") for i in range(workers)
        ]
        problem = None
        try:
            deadline = time.monotonic() + timeout_s
            # Pending until the commit after the SMTP server's answer: none pending
            # means every message was sent and recorded (or given up on).
            while pending_count(dsn):
                if time.monotonic() > deadline:
                    problem = f"the outbox was not drained within {timeout_s:.0f}s"
                    break
                dead = [w for w in running if w.process.poll() is not None]
                if dead:
                    problem = "an outbox worker exited early"
                    break
                time.sleep(0.5)
            drained_s = time.perf_counter() - started
        finally:
            for worker in running:
                worker.stop()
        received = sink.received()
    report = delivery_report(outbox_rows(dsn), received)
    report["outbox_workers"] = workers
    report["sent_by_worker"] = [worker.sent() for worker in running]
    report["delivery_s"] = round(drained_s, 1)
    report["emails_per_s"] = round(len(received) / max(drained_s, 1e-9), 1)
    if problem:
        report["exactly_once"] = False
        report["delivery_problem"] = problem
        print(problem, *(worker.tail() for worker in running), sep="\n", file=sys.stderr)
    return report
