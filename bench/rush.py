"""The registration rush: many browsers racing for the last places.

Creates a fresh PostgreSQL database (default durability), migrates it through
the app, opens an edition with --seats places, starts gunicorn with the repo's
gunicorn.conf.py serving bench.benchapp (the production app plus one
benchmark-only endpoint), and fires --attempts browser-like registrations from
--clients concurrent clients: GET the form, POST it with its CSRF token and
session cookie, follow the redirect to the manage page. With the same clients
it then times ``POST /_bench/ping-write`` (insert one row, commit), the
cheapest request that still costs a commit, so ``ratio`` says how close a
whole registration comes to that floor on this machine.

With --floor the same visitors POST their form to a benchmark-only bare claim
instead (the conditional write on the quota row, one audit row, the commit):
the ceiling of the design on this machine, whatever a registration does
around its claim.

Every run is checked: no place oversold, no 5xx or unexplained answer, no
lost order either way (a confirmation shown for an order the database does
not have, an order in the database no visitor was shown; see check_orders)
and every confirmed order's e-mails in the outbox. Prints one JSON line; with
--runs N the figures are those of the median run (by ratio); with --repeat N
one line per run and then a summary. The exit status is 1 if any run failed.

--servers 2 runs two independent gunicorn servers on --port and --port+1 on
one database, with rate limits on and counted in Redis (--redis); each client
sends its requests to them in turn (a visitor's form, its POST and its page
come from different servers, as behind a round-robin proxy); then two outbox
workers (``flask --app wsgi outbox run``) send the outbox at once to an SMTP
sink here (bench/outbox_delivery.py), and each e-mail must arrive exactly
once. Talks only to 127.0.0.1.

    .venv/bin/python bench/rush.py --seats 1000 --attempts 5000 --clients 32 --runs 3
    .venv/bin/python bench/rush.py --seats 1000 --attempts 5000 --clients 32 --repeat 10
    .venv/bin/python bench/rush.py --seats 1000 --attempts 5000 --clients 32 --servers 2
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import LoggedProcess  # noqa: E402

HOST = "127.0.0.1"
SLUG = "rush"
REQUEST_TIMEOUT_S = 30
PHASE_TIMEOUT_S = 900
SERVER_START_TIMEOUT_S = 60

CSRF_RE = re.compile(
    rb'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"|'
    rb'<input[^>]*value="([^"]+)"[^>]*name="csrf_token"'
)
# How the re-rendered form says the places are gone (NotEnoughPlaces): the
# not-enough notice of templates/registration/register.html carries a marker
# for machines, independent of the language and wording of the message.
FULL_MARKERS = (b'data-outcome="full"', b'id="not-enough-places"')
# The booker's page (templates/registration/manage.html) shows the order's reference.
REFERENCE_RE = re.compile(rb'<dd class="reference">([A-Z0-9]+)</dd>')


# --- the database ------------------------------------------------------------------


def _admin_conninfo(base_url: str) -> dict:
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    if url.host not in (None, "127.0.0.1", "localhost"):
        raise SystemExit("rush.py only talks to a local PostgreSQL (127.0.0.1)")
    info = {"host": HOST, "port": url.port or 5432, "user": url.username or "postgres"}
    if url.password:
        info["password"] = url.password
    return info


def _admin(base_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **_admin_conninfo(base_url)) as conn:
        conn.execute(sql)


def create_database(base_url: str, name: str) -> str:
    _admin(base_url, f'CREATE DATABASE "{name}"')
    return base_url.rstrip("/") + "/" + name


def drop_database(base_url: str, name: str) -> None:
    _admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(seats: int) -> dict:
    """Migrate through the app and open an edition with ``seats`` places."""
    from datetime import timedelta

    from flask_migrate import upgrade

    from bench.benchapp import create_app
    from conference.core.db import db, utcnow
    from conference.events.commands import create_demo_edition

    app = create_app()
    with app.app_context():
        upgrade()
        edition = create_demo_edition(utcnow().year + 1, capacity=seats, slug=SLUG)
        edition.registration_opens_at = utcnow() - timedelta(minutes=5)
        edition.registration_closes_at = utcnow() + timedelta(days=1)
        db.session.commit()
        ids = {
            "edition_id": edition.id,
            "quota_id": edition.quotas[0].id,
            "ticket_type_id": edition.ticket_types[0].id,
        }
        db.session.remove()
        db.engine.dispose()
    return ids


def database_counts(database_url: str, ids: dict) -> dict:
    import psycopg

    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:

        def one(sql: str, *params) -> int:
            return int(conn.execute(sql, params).fetchone()[0])

        return {
            "orders": one(
                "SELECT count(*) FROM registration_order WHERE edition_id = %s",
                ids["edition_id"],
            ),
            "attendees": one(
                "SELECT count(*) FROM attendee a JOIN registration_order o ON o.id = a.order_id"
                " WHERE o.edition_id = %s",
                ids["edition_id"],
            ),
            "outbox_rows": one("SELECT count(*) FROM outbox_message"),
            "quota_taken": one("SELECT taken FROM quota WHERE id = %s", ids["quota_id"]),
        }


def order_records(database_url: str, edition_id: int) -> tuple[list[dict], list[dict]]:
    """The edition's orders with their attendees' e-mails, and every outbox row."""
    import psycopg

    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        orders = {
            row[0]: {
                "id": row[0],
                "reference": row[1],
                "status": row[2],
                "booker_email": row[3],
                "attendees": [],
            }
            for row in conn.execute(
                "SELECT id, reference, status, booker_email FROM registration_order"
                " WHERE edition_id = %s ORDER BY id",
                (edition_id,),
            )
        }
        for order_id, email in conn.execute(
            "SELECT a.order_id, a.email FROM attendee a JOIN registration_order o"
            " ON o.id = a.order_id WHERE o.edition_id = %s ORDER BY a.id",
            (edition_id,),
        ):
            orders[order_id]["attendees"].append(email)
        mails = [
            {"id": row[0], "order_id": row[1], "kind": row[2], "to_address": row[3]}
            for row in conn.execute(
                "SELECT id, order_id, kind, to_address FROM outbox_message ORDER BY id"
            )
        ]
    return list(orders.values()), mails


def check_orders(told: dict[int, str], orders: list[dict], mails: list[dict]) -> dict:
    """Hold what the clients were told against the database, both ways, and each order's mail.

    ``told``: visitor number -> the reference its confirmation page showed, for
    every visitor that got the 303 and then its booker's page (a "confirmed").

    A **lost order** is either
    - *told, not in the database*: a visitor was shown a confirmation, but no
      confirmed order has that reference with the visitor's booker e-mail and
      exactly its one attendee; or
    - *in the database, never told*: an order (any status) whose reference no
      visitor was shown, or a second order of a visitor (each visitor number,
      hence each booker e-mail, was used once).

    An order's **e-mails** are one ``order_confirmation`` to the booker and one
    ``ticket`` to each attendee, on outbox rows with the order's id; every
    confirmed order must have exactly those (``orders_missing_emails`` counts
    orders lacking one), and the outbox must hold nothing else
    (``outbox_extra_rows``: a copy too many, a row of no order, of a refused one).
    """
    by_reference = {order["reference"]: order for order in orders}
    told_references = set(told.values())
    told_missing = []
    for number, reference in sorted(told.items()):
        booker, attendee = visitor_emails(number)
        order = by_reference.get(reference)
        if (
            order is None
            or order["status"] != "confirmed"
            or order["booker_email"] != booker
            or order["attendees"] != [attendee]
        ):
            told_missing.append(reference or f"visitor {number}, no reference shown")
    untold = [order["reference"] for order in orders if order["reference"] not in told_references]
    per_booker = Counter(order["booker_email"] for order in orders)
    second_orders = sum(count - 1 for count in per_booker.values())

    by_order: dict[int | None, Counter] = defaultdict(Counter)
    for mail in mails:
        by_order[mail["order_id"]][(mail["kind"], mail["to_address"])] += 1
    missing_emails = []
    extra_rows = 0
    for order in orders:
        expected = Counter({("order_confirmation", order["booker_email"]): 1})
        expected.update(("ticket", email) for email in order["attendees"])
        if order["status"] != "confirmed":
            expected = Counter()
        actual = by_order.pop(order["id"], Counter())
        if expected - actual:
            missing_emails.append(order["reference"])
        extra_rows += sum((actual - expected).values())
    extra_rows += sum(sum(rest.values()) for rest in by_order.values())

    report = {
        "told_confirmed": len(told),
        "orders_in_db": len(orders),
        "lost_told_not_in_db": len(told_missing),
        "lost_in_db_never_told": len(untold) + second_orders,
        "orders_missing_emails": len(missing_emails),
        "outbox_extra_rows": extra_rows,
    }
    report["lost_orders"] = report["lost_told_not_in_db"] + report["lost_in_db_never_told"]
    report["outbox_complete"] = not (missing_emails or extra_rows)
    samples = {"told_not_in_db": told_missing[:5], "never_told": untold[:5]}
    samples["missing_emails"] = missing_emails[:5]
    samples = {key: value for key, value in samples.items() if value}
    if samples:
        report["order_samples"] = samples
    return report


# --- CPU accounting (Linux /proc): who spent the two cores ----------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine spent so far (all cores)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS


class CpuMeter:
    """CPU spent by the load generator, gunicorn and our PostgreSQL backends in a phase."""

    def __init__(self, servers: list[Server] | None, database_url: str) -> None:
        self.servers = servers or []
        self.database_url = database_url
        self.marks: dict[str, float] = {}
        # One connection for every reading: the sampler reads several times a
        # second, and a new connection each time would start a backend each time.
        self._connection = None

    def _postgres_pids(self) -> list[int]:
        import psycopg

        if self._connection is None:
            dsn = self.database_url.replace("postgresql+psycopg://", "postgresql://")
            self._connection = psycopg.connect(dsn, autocommit=True)
        rows = self._connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def read(self) -> dict[str, float]:
        own = os.times()
        return {
            "client": own.user + own.system,
            "server": sum(server.cpu_seconds() for server in self.servers),
            "postgres": sum(process_cpu_seconds(pid) for pid in self._postgres_pids()),
            "machine": machine_busy_seconds(),
        }


class CpuSampler:
    """The meter read every ``interval`` seconds in a thread, so a phase whose end is
    only known afterwards (the last place taken) can be cut out of the rush."""

    def __init__(self, meter: CpuMeter, interval: float = 0.2) -> None:
        self.meter = meter
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append((time.perf_counter(), self.meter.read()))
            if self._stop.wait(self.interval):
                break

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), self.meter.read()))

    def at(self, moment: float) -> dict[str, float]:
        """The meter's reading at ``moment``, interpolated between the samples around it."""
        earlier = [s for s in self.samples if s[0] <= moment] or self.samples[:1]
        later = [s for s in self.samples if s[0] >= moment] or self.samples[-1:]
        (t0, r0), (t1, r1) = earlier[-1], later[0]
        share = (moment - t0) / (t1 - t0) if t1 > t0 else 0.0
        return {key: r0[key] + (r1[key] - r0[key]) * share for key in r0}


def in_pingwrites(cpu_ms: dict, ping_cpu_ms: dict) -> float:
    """A request's CPU on all processes as a multiple of one ping-write's.

    The machine's speed drifts between runs (the same ping-write cost 1.0 ms of
    server CPU in one run and 1.3 ms in the next); this ratio drifts far less.
    """
    return round(sum(cpu_ms.values()) / max(sum(ping_cpu_ms.values()), 1e-9), 2)


def cpu_per_request_ms(before: dict, after: dict, requests: int) -> dict:
    spent = {key: after[key] - before[key] for key in before}
    spent["other_processes"] = spent["machine"] - spent["client"] - spent["server"]
    spent["other_processes"] -= spent["postgres"]
    del spent["machine"]
    return {key: round(value * 1000 / max(requests, 1), 2) for key, value in spent.items()}


# --- the server --------------------------------------------------------------------


class Server(LoggedProcess):
    """gunicorn with the repo's gunicorn.conf.py, serving bench.benchapp."""

    def __init__(self, port: int, env: dict, log_path: Path) -> None:
        self.port = port
        gunicorn = Path(sys.executable).with_name("gunicorn")
        super().__init__(
            [
                str(gunicorn),
                "--config",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"{HOST}:{port}",
                "bench.benchapp:create_app()",
            ],
            ROOT,
            env,
            log_path,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", f"/e/{SLUG}")
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {SERVER_START_TIMEOUT_S}s")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the gunicorn master and its live workers."""
        pids = [self.process.pid]
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            pids += [int(pid) for pid in children.read_text().split()]
        except OSError:
            pass
        return sum(process_cpu_seconds(pid) for pid in pids)


# --- the clients -------------------------------------------------------------------


class Browser:
    """Keep-alive connections; a fresh cookie jar per visitor, as a new browser.

    With several app servers (``ports``) the requests go to them in turn, as
    from a round-robin proxy without sticky sessions: a visitor's form, its
    POST and the page it is sent to come from different servers.
    """

    def __init__(self, ports: int | list[int], first: int = 0) -> None:
        self.ports = [ports] if isinstance(ports, int) else list(ports)
        self.conns = {
            port: http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
            for port in self.ports
        }
        self.turn = first
        self.cookies: dict[str, str] = {}
        #: Requests sent, by (port, route), e.g. (8765, "GET /m/<token>").
        self.sent: Counter[tuple[int, str]] = Counter()

    def request(self, method: str, path: str, body: bytes | None = None):
        port = self.ports[self.turn % len(self.ports)]
        self.turn += 1
        conn = self.conns[port]
        self.sent[(port, f"{method} {route_of(path)}")] += 1
        headers = {"Accept": "text/html", "Accept-Language": "da"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            conn.close()  # reconnects on the next request
            raise
        # The production cookie is Secure (the site runs behind TLS); a browser
        # behind the TLS proxy sends it back, so we keep it although this is plain HTTP.
        for header in response.headers.get_all("Set-Cookie") or ():
            pair = header.split(";", 1)[0]
            name, _, value = pair.partition("=")
            self.cookies[name.strip()] = value.strip()
        if response.will_close:
            conn.close()
        return response.status, response.headers, data

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()


def route_of(path: str) -> str:
    """A request's path with the secret of a manage link left out."""
    return re.sub(r"^/m/[^/?]+", "/m/<token>", path.split("?", 1)[0])


def visitor_emails(number: int) -> tuple[str, str]:
    """Visitor ``number``'s booker and attendee e-mail: who an order belongs to."""
    return f"booker{number}@rush.example.dk", f"deltager{number}@rush.example.dk"


@dataclass
class Outcomes:
    confirmed: int = 0
    full_answers: int = 0
    errors_5xx: int = 0
    others: int = 0
    samples: list[str] = field(default_factory=list)
    #: Requests sent, by (port, route).
    requests: Counter[tuple[int, str]] = field(default_factory=Counter)
    # (finished at, seconds taken, outcome) per attempt
    timeline: list[tuple[float, float, str]] = field(default_factory=list)


def booking_body(ids: dict, number: int, csrf_token: str) -> bytes:
    """The form of tests/conftest.py booking_form() for one attendee, unique e-mails."""
    booker_email, attendee_email = visitor_emails(number)
    return urlencode(
        {
            "csrf_token": csrf_token,
            "ticket_type_id": str(ids["ticket_type_id"]),
            "booker_name": f"Booker {number}",
            "booker_email": booker_email,
            "booker_phone": "+45 87 05 00 00",
            "organisation": "Aarhus Kommune",
            "organisation_type": "municipality",
            "invoice_organisation": "Aarhus Kommune, Digitalisering",
            "invoice_address": "Rådhuspladsen 2",
            "invoice_postcode": "8000",
            "invoice_city": "Aarhus C",
            "cvr": "55133018",
            "ean": "5798000000001",
            "personreference": "HJ-4711",
            "buyer_order_number": "PO-2026-17",
            "attendee_count": "1",
            "attendees-0-name": f"Deltager {number}",
            "attendees-0-email": attendee_email,
            "attendees-0-job_title": "Digitaliseringskonsulent",
            "attendees-0-dietary": "",
        }
    ).encode()


def is_full_answer(status: int, body: bytes) -> bool:
    return status in (200, 409, 422) and any(marker in body for marker in FULL_MARKERS)


def register_once(
    browser: Browser,
    ids: dict,
    number: int,
    *,
    floor: bool = False,
    told: dict[int, str] | None = None,
) -> str:
    """One visitor: GET the form, POST it, follow the redirect. Returns the outcome.

    ``floor``: POST the same form to the benchmark's bare claim instead.
    ``told``: on a confirmation, the reference the booker's page showed is put
    there under the visitor's number ("" if it showed none).
    """
    browser.cookies.clear()
    form_path = f"/e/{SLUG}/register"
    post_path = f"/_bench/claim/{ids['quota_id']}" if floor else form_path
    status, _headers, body = browser.request("GET", form_path)
    if status >= 500:
        return "errors_5xx"
    match = CSRF_RE.search(body)
    if status != 200 or match is None:
        return f"other:GET {status}"
    token = (match.group(1) or match.group(2)).decode()
    status, headers, body = browser.request("POST", post_path, booking_body(ids, number, token))
    if status >= 500:
        return "errors_5xx"
    if status in (302, 303):
        location = urlsplit(headers.get("Location", "")).path
        if not location:
            return f"other:POST {status} without Location"
        status, _headers, body = browser.request("GET", location)
        if status >= 500:
            return "errors_5xx"
        if status != 200:
            return f"other:GET {route_of(location)} {status}"
        if told is not None:
            match = REFERENCE_RE.search(body)
            told[number] = match.group(1).decode() if match else ""
        return "confirmed"
    if is_full_answer(status, body):
        return "full_answers"
    return f"other:POST {status}"


def run_clients(
    clients: int, total: int, work, ports: int | list[int]
) -> tuple[float, float, Outcomes]:
    """Run ``work(browser, number)`` ``total`` times from ``clients`` threads.

    With several ``ports`` (app servers) every client sends its requests to
    them in turn, each client starting at another one (see Browser).
    """
    numbers = itertools.count()
    outcomes = Outcomes()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(first: int) -> None:
        browser = Browser(ports, first)
        local: list[tuple[float, float, str]] = []
        start.wait()
        while True:
            number = next(numbers)
            if number >= total:
                break
            began = time.perf_counter()
            try:
                outcome = work(browser, number)
            except Exception as error:  # noqa: BLE001 - counted, the rush goes on
                outcome = f"other:{type(error).__name__}: {error}"
            ended = time.perf_counter()
            local.append((ended, ended - began, outcome))
        browser.close()
        with lock:
            outcomes.timeline.extend(local)
            outcomes.requests.update(browser.sent)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait(timeout=60)
    began = time.perf_counter()
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0.1))
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"the load phase did not finish within {PHASE_TIMEOUT_S}s")
    outcomes.timeline.sort()
    ended = outcomes.timeline[-1][0] if outcomes.timeline else time.perf_counter()
    for _finished, _took, outcome in outcomes.timeline:
        if outcome in ("confirmed", "full_answers", "errors_5xx"):
            setattr(outcomes, outcome, getattr(outcomes, outcome) + 1)
        else:
            outcomes.others += 1
            if len(outcomes.samples) < 5:
                outcomes.samples.append(outcome)
    return began, ended, outcomes


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)
    return ordered[index]


def ping_once(browser: Browser, _number: int) -> str:
    status, _headers, _body = browser.request("POST", "/_bench/ping-write", b"")
    if status >= 500:
        return "errors_5xx"
    return "confirmed" if status == 200 else f"other:ping {status}"


def warm_up(port: int | list[int], clients: int) -> None:
    """Let every worker compile its templates and open its connections first."""

    def visit(browser: Browser, _number: int) -> str:
        browser.cookies.clear()
        status, _h, _b = browser.request("GET", f"/e/{SLUG}/register")
        return "confirmed" if status == 200 else f"other:warm-up GET {status}"

    run_clients(clients, clients * 4, visit, port)
    run_clients(clients, clients * 4, ping_once, port)


# --- the rate-limit store (--servers > 1) -------------------------------------------

#: Per client address; the benchmark's clients all come from 127.0.0.1, so the
#: limits are raised out of their way but still counted, in Redis.
BENCH_RATE_LIMIT = "1000000 per day"
LIMITED_ROUTES = {"register": f"POST /e/{SLUG}/register", "manage": "GET /m/<token>"}


def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5)


def require_redis(url: str) -> None:
    """Exit with a clear message when the rate-limit store does not answer."""
    if not url.startswith("redis://127.0.0.1") and not url.startswith("redis://localhost"):
        raise SystemExit("rush.py only talks to a local Redis (redis://127.0.0.1:6379/N)")
    try:
        _redis(url).ping()
    except Exception as error:  # noqa: BLE001 - any connection failure ends the same way
        raise SystemExit(
            f"Redis does not answer at {url} ({type(error).__name__}: {error}). --servers > 1"
            " uses it as the app servers' shared rate-limit store; start redis-server"
            " (`redis-cli ping` must say PONG) or run with --servers 1."
        ) from None


def limiter_settings(redis_url: str, prefix: str) -> dict:
    """The app servers' environment for rate limits on, in Redis, under a key prefix."""
    return {
        "RATELIMIT_ENABLED": "1",
        "RATELIMIT_STORAGE_URI": redis_url,
        "BENCH_RATELIMIT_KEY_PREFIX": prefix,
        "REGISTRATION_RATE_LIMIT": BENCH_RATE_LIMIT,
        "MANAGE_RATE_LIMIT": BENCH_RATE_LIMIT,
    }


def limiter_hits(redis_url: str, prefix: str) -> dict[str, int]:
    """The run's rate-limit counters in Redis (key -> hits); they are deleted after reading."""
    client = _redis(redis_url)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    hits = {}
    for key in keys:
        value = client.get(key) if client.type(key) == b"string" else None
        hits[key.decode()] = int(value or 0)
    if keys:
        client.delete(*keys)
    return hits


def limiter_report(redis_url: str, hits: dict[str, int], requests: Counter) -> dict:
    """Did both servers count in the one store? Each limited route's hits in Redis must
    equal the requests all clients sent to it, whichever server they went to."""
    report = {"store": redis_url, "keys": len(hits)}
    shared = bool(hits)
    for name, route in LIMITED_ROUTES.items():
        # Flask-Limiter's key names the view: ".../registration.register/..." etc.
        in_redis = sum(n for key, n in hits.items() if f"registration.{name}/" in key)
        sent = sum(n for (_port, sent_route), n in requests.items() if sent_route == route)
        report[f"{name}_hits_in_redis"] = in_redis
        report[f"{name}_requests_sent"] = sent
        shared = shared and in_redis == sent
    report["shared"] = shared
    return report


# --- one run -----------------------------------------------------------------------


def failures(result: dict) -> list[str]:
    """What makes a run fail; empty when it passed."""
    problems = []
    if result["oversold"]:
        problems.append(f"oversold {result['oversold']}")
    if result["errors_5xx"]:
        problems.append(f"{result['errors_5xx']} 5xx answers")
    if result["others"] or result["pingwrite_others"]:
        problems.append(f"{result['others'] + result['pingwrite_others']} unexplained answers")
    if not result["consistent"]:
        problems.append("orders, attendees, outbox rows or quota do not match confirmed")
    if result.get("lost_orders"):
        problems.append(f"{result['lost_orders']} lost orders")
    if result.get("outbox_complete") is False:
        problems.append("an order lacks its e-mails in the outbox, or it holds extra rows")
    if result.get("exactly_once") is False:
        problems.append("e-mails not delivered exactly once")
    if result.get("limiter", {}).get("shared") is False:
        problems.append("the rate limits were not counted in the shared Redis store")
    return problems


def one_run(args, run_number: int) -> dict:
    load_before = round(os.getloadavg()[0], 2)
    name = f"rush_{os.getpid()}_{run_number}_{secrets.token_hex(3)}"
    database_url = create_database(args.database_url, name)
    ports = [args.port + offset for offset in range(args.servers)]
    log_dir = Path(tempfile.gettempdir())
    servers: list[Server] = []
    told: dict[int, str] = {}
    order_check: dict = {}
    limiter: dict | None = None
    delivery: dict | None = None
    try:
        env = dict(os.environ)
        env.update(
            {
                "CONFERENCE_ENV": "production",
                "DATABASE_URL": database_url,
                "SECRET_KEY": secrets.token_urlsafe(48),
                "RATELIMIT_ENABLED": "0",
                "PUBLIC_BASE_URL": f"http://{HOST}:{ports[0]}",
                "GUNICORN_LOGLEVEL": env.get("GUNICORN_LOGLEVEL", "warning"),
            }
        )
        if args.servers > 1:
            # Several app servers must count a client's requests together.
            env.update(limiter_settings(args.redis, name))
        env.pop("FLASK_DEBUG", None)
        os.environ.update(env)
        ids = prepare(args.seats)
        servers = [Server(port, env, log_dir / f"{name}-gunicorn-{port}.log") for port in ports]
        for server in servers:
            server.wait_ready()
        warm_up(ports, args.clients)

        meter = CpuMeter(servers, database_url)
        # The yardstick is timed in two halves, before and after the rush, so a
        # machine that gets busier or quieter during the run biases neither side.
        ping_total = args.ping_requests or args.attempts
        ping_halves = []
        cpu_before = meter.read()
        ping_halves.append(run_clients(args.clients, ping_total // 2, ping_once, ports))
        cpu_mid = meter.read()
        with CpuSampler(meter) as sampler:
            began, ended, rush = run_clients(
                args.clients,
                args.attempts,
                lambda browser, number: register_once(
                    browser, ids, number, floor=args.floor, told=told
                ),
                ports,
            )
        cpu_after_rush = meter.read()
        ping_halves.append(
            run_clients(args.clients, ping_total - ping_total // 2, ping_once, ports)
        )
        cpu_end = meter.read()
        meter.close()
        counts = database_counts(database_url, ids)
        if not args.floor:
            order_check = check_orders(told, *order_records(database_url, ids["edition_id"]))
        if args.servers > 1:
            # Warm-up and ping-write are not limited: only the rush's requests count.
            limiter = limiter_report(args.redis, limiter_hits(args.redis, name), rush.requests)
        for server in servers:
            server.stop()
        if args.outbox_workers and not args.floor:
            from bench.outbox_delivery import deliver

            dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
            delivery = deliver(
                ROOT, env, dsn, args.outbox_workers, log_dir, name, args.delivery_timeout
            )
    except BaseException:
        for server in servers:
            print(server.tail(), file=sys.stderr)
        raise
    finally:
        for server in servers:
            server.stop()
        if args.servers > 1:
            limiter_hits(args.redis, name)  # leave nothing behind in Redis
        if args.keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            drop_database(args.database_url, name)

    elapsed = ended - began
    attempts_per_s = len(rush.timeline) / elapsed
    # The open phase ends when the last place went: attempts finished by then.
    confirmed_times = [f for f, _t, o in rush.timeline if o == "confirmed"]
    open_end = confirmed_times[-1] if confirmed_times else ended
    open_attempts = sum(1 for f, _t, _o in rush.timeline if f <= open_end)
    open_phase_per_s = open_attempts / max(open_end - began, 1e-9)
    latencies_ms = [took * 1000 for _f, took, _o in rush.timeline]
    ping_requests = sum(len(half[2].timeline) for half in ping_halves)
    ping_seconds = sum(half[1] - half[0] for half in ping_halves)
    ping_per_s = ping_requests / ping_seconds
    ping_errors_5xx = sum(half[2].errors_5xx for half in ping_halves)
    ping_others = sum(half[2].others for half in ping_halves)
    ping_samples = [sample for half in ping_halves for sample in half[2].samples]
    ping_cpu_first = cpu_per_request_ms(cpu_before, cpu_mid, 1)
    ping_cpu_second = cpu_per_request_ms(cpu_after_rush, cpu_end, 1)
    ping_cpu = {
        key: round((ping_cpu_first[key] + ping_cpu_second[key]) / max(ping_requests, 1), 2)
        for key in ping_cpu_first
    }
    confirmed = rush.confirmed
    taken = max(counts["quota_taken"], counts["attendees"])
    p99_ms = percentile(latencies_ms, 0.99)
    result = {
        "seats": args.seats,
        "attempts": args.attempts,
        "clients": args.clients,
        "servers": args.servers,
        "confirmed": confirmed,
        "full_answers": rush.full_answers,
        "oversold": max(taken - args.seats, 0),
        "errors_5xx": rush.errors_5xx + ping_errors_5xx,
        "others": rush.others,
        "attempts_per_s": round(attempts_per_s, 1),
        "open_phase_per_s": round(open_phase_per_s, 1),
        "p50_ms": round(percentile(latencies_ms, 0.50), 1),
        "p99_ms": round(p99_ms, 1),
        "pingwrite_req_per_s": round(ping_per_s, 1),
        "pingwrite_others": ping_others,
        "ratio": round(attempts_per_s / ping_per_s, 3),
        # The p99 in ping-writes: how many the machine served, with the same clients,
        # in the p99's time. Like ``ratio`` it divides out the machine's speed, which
        # here changes by a factor of two within an hour; 250 ms at 1000 ping-writes
        # a second is 250.
        "p99_in_pingwrites": round(p99_ms * ping_per_s / 1000, 1),
        **counts,
        "orders_match": counts["orders"] == confirmed,
        "attendees_match": counts["attendees"] == confirmed,
        "outbox_match": counts["outbox_rows"] == 2 * confirmed,
        "quota_match": counts["quota_taken"] == confirmed,
        **order_check,
    }
    if args.floor:
        # The bare claim writes no order, attendee or e-mail: only the quota counts.
        result["floor"] = True
        for key in ("orders_match", "attendees_match", "outbox_match"):
            result.pop(key)
    result["consistent"] = all(
        result[key]
        for key in ("orders_match", "attendees_match", "outbox_match", "quota_match")
        if key in result
    )
    if args.servers > 1:
        result["by_server"] = {
            str(port): {
                "requests": sum(n for (p, _r), n in rush.requests.items() if p == port),
                "registration_posts": rush.requests[(port, LIMITED_ROUTES["register"])],
                "confirmation_pages": rush.requests[(port, LIMITED_ROUTES["manage"])],
            }
            for port in ports
        }
        result["limiter"] = limiter
    if delivery is not None:
        result.update(delivery)
    # CPU milliseconds per attempt / per ping-write, by process group: explains the
    # ratio independently of whatever else the machine was doing.
    result["cpu_ms_per_attempt"] = cpu_per_request_ms(cpu_mid, cpu_after_rush, len(rush.timeline))
    result["cpu_ms_per_pingwrite"] = ping_cpu
    # The two phases apart: while places remained (nearly every attempt confirmed)
    # and after (every attempt told "full").
    full_attempts = len(rush.timeline) - open_attempts
    at_open_end = sampler.at(open_end)
    phases = {
        "open_phase": cpu_per_request_ms(sampler.at(began), at_open_end, open_attempts),
        "full_phase": cpu_per_request_ms(at_open_end, sampler.at(ended), full_attempts),
    }
    result["cpu_ms_per_open_phase_attempt"] = phases["open_phase"]
    result["cpu_ms_per_full_phase_attempt"] = phases["full_phase"] if full_attempts else None
    result["open_phase_attempt_in_pingwrites"] = in_pingwrites(phases["open_phase"], ping_cpu)
    result["full_phase_attempt_in_pingwrites"] = (
        in_pingwrites(phases["full_phase"], ping_cpu) if full_attempts else None
    )
    result["load_1m_before"] = load_before
    if rush.samples or ping_samples:
        result["other_samples"] = (rush.samples + ping_samples)[:5]
    result["failures"] = failures(result)
    result["ok"] = not result["failures"]
    return result


#: A run's figures in the --repeat summary.
SUMMARY_FIELDS = (
    "confirmed",
    "oversold",
    "errors_5xx",
    "lost_orders",
    "outbox_complete",
    "attempts_per_s",
    "p99_ms",
    "pingwrite_req_per_s",
    "ratio",
    "p99_in_pingwrites",
)


def summary(results: list[dict]) -> dict:
    """The --repeat summary: each run's figures in brief, the medians, what failed."""
    return {
        "summary": True,
        "runs": len(results),
        "ok": all(r["ok"] for r in results),
        "failed_runs": [
            {"run": n, "failures": r["failures"]} for n, r in enumerate(results, 1) if not r["ok"]
        ],
        "per_run": [
            {"run": n, **{key: r.get(key) for key in SUMMARY_FIELDS}}
            for n, r in enumerate(results, 1)
        ],
        "attempts_per_s_median": round(statistics.median(r["attempts_per_s"] for r in results), 1),
        "pingwrite_req_per_s_median": round(
            statistics.median(r["pingwrite_req_per_s"] for r in results), 1
        ),
        "ratio_median": round(statistics.median(r["ratio"] for r in results), 3),
        "p99_ms_median": round(statistics.median(r["p99_ms"] for r in results), 1),
        "p99_ms_max": max(r["p99_ms"] for r in results),
        "p99_in_pingwrites_median": round(
            statistics.median(r["p99_in_pingwrites"] for r in results), 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seats", type=int, default=1000)
    parser.add_argument("--attempts", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--runs", type=int, default=1, help="report the median of N runs")
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="N runs in a row: one JSON line each, then a summary; exit 1 if any run failed",
    )
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432",
        help="server URL without a database name; a fresh rush_* database is made per run",
    )
    parser.add_argument("--port", type=int, default=8765, help="first app server's port")
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="independent gunicorn app servers on --port, --port+1, ...; more than one"
        " turns rate limits on with --redis as their store",
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/9",
        help="rate-limit store for --servers > 1 (keys are prefixed with the run's name"
        " and deleted afterwards)",
    )
    parser.add_argument(
        "--outbox-workers",
        type=int,
        default=None,
        help="after the rush, send the outbox with N workers at once to a local SMTP sink"
        " and check each e-mail arrived once (default: 2 with --servers > 1, else 0)",
    )
    parser.add_argument("--delivery-timeout", type=float, default=900)
    parser.add_argument(
        "--ping-requests", type=int, default=0, help="ping-write requests (default: --attempts)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="POST to the benchmark's bare claim (conditional write, commit): the design's ceiling",
    )
    args = parser.parse_args(argv)
    if min(args.seats, args.attempts, args.clients, args.runs, args.servers) < 1:
        parser.error("--seats, --attempts, --clients, --runs and --servers must be at least 1")
    if args.repeat and args.runs > 1:
        parser.error("--repeat reports every run; --runs the median: use one of them")
    if args.outbox_workers is None:
        args.outbox_workers = 2 if args.servers > 1 else 0
    if args.servers > 1:
        require_redis(args.redis)

    if args.repeat:
        results = []
        for run_number in range(args.repeat):
            results.append(one_run(args, run_number))
            print(json.dumps({"run": run_number + 1, **results[-1]}), flush=True)
        report = summary(results)
        print(json.dumps(report), flush=True)
        return 0 if report["ok"] else 1

    results = []
    for run_number in range(args.runs):
        result = one_run(args, run_number)
        results.append(result)
        if args.runs > 1:
            print(json.dumps({"run": run_number + 1, **result}), file=sys.stderr)
    ordered = sorted(results, key=lambda r: r["ratio"])
    report = dict(ordered[len(ordered) // 2])
    if args.runs > 1:
        report["runs"] = args.runs
        report["ratio_runs"] = [r["ratio"] for r in results]
        report["ratio_median"] = statistics.median(r["ratio"] for r in results)
        report["p99_ms_runs"] = [r["p99_ms"] for r in results]
        report["p99_ms_max"] = max(r["p99_ms"] for r in results)
        report["p99_in_pingwrites_runs"] = [r["p99_in_pingwrites"] for r in results]
        report["all_runs_consistent"] = all(r["ok"] for r in results)
    print(json.dumps(report), flush=True)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
