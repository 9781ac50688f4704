"""Where a confirmed registration's server CPU goes, request by request, in process.

Same database set-up and form as ``bench/rush.py`` (a fresh PostgreSQL
database, an edition with plenty of places), but the three requests of one
visitor (GET the form, POST it, GET the page it redirects to) go through the
Flask test client in this process, so each one's CPU can be measured alone,
without gunicorn, the network or the other clients. Prints one JSON line with
the 10th percentile of CPU milliseconds per request; ``--profile post`` (or ``form``,
``page``) also prints cProfile's top functions for that request.

    .venv/bin/python bench/profile_rush.py --visitors 300 --profile post
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import rush  # noqa: E402


def _low(values: list[float]) -> float:
    """The 10th percentile: what a request costs when the machine leaves it alone.

    Other processes on the two cores make some requests dearer (caches, a shared
    core), never cheaper, so the low end moves least from run to run.
    """
    ordered = sorted(values)
    return ordered[len(ordered) // 10]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--warm-up", type=int, default=30)
    parser.add_argument(
        "--profile", choices=("form", "post", "page", "full_form", "full_post"), default=None
    )
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--filter", default=None, help="only functions whose file matches")
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)

    name = f"rushprof_{os.getpid()}_{secrets.token_hex(3)}"
    database_url = rush.create_database(args.database_url, name)
    try:
        os.environ.update(
            {
                "CONFERENCE_ENV": "production",
                "DATABASE_URL": database_url,
                "SECRET_KEY": secrets.token_urlsafe(48),
                "RATELIMIT_ENABLED": "0",
                "PUBLIC_BASE_URL": "http://127.0.0.1:8765",
            }
        )
        ids = rush.prepare(args.visitors + args.warm_up)
        from bench.benchapp import create_app

        app = create_app()
        # CPU, not wall time: waiting for PostgreSQL costs the machine nothing.
        profiler = cProfile.Profile(time.thread_time)
        timings: dict[str, list[float]] = {
            "form": [],
            "post": [],
            "page": [],
            "full_form": [],
            "full_post": [],
        }
        headers = {"Accept": "text/html", "Accept-Language": "da"}
        # The production session cookie is Secure: the client must speak https.
        base_url = "https://127.0.0.1"

        def timed(step: str, measure: bool, call, *call_args, **call_kwargs):
            profile = measure and args.profile == step
            began = time.thread_time()
            if profile:
                profiler.enable()
            response = call(*call_args, **call_kwargs)
            if profile:
                profiler.disable()
            if measure:
                timings[step].append((time.thread_time() - began) * 1000)
            return response

        postgres_cpu: dict[str, float] = {}

        def mark_postgres(label: str) -> None:
            postgres_cpu[label] = sum(
                rush.process_cpu_seconds(pid) for pid in meter._postgres_pids()
            )

        meter = rush.CpuMeter(None, database_url)
        for number in range(args.warm_up + 2 * args.visitors):
            measure = number >= args.warm_up
            if number == args.warm_up:
                mark_postgres("confirmed")
            elif number == args.warm_up + args.visitors:
                mark_postgres("full")
            # The last --visitors find every place taken: the rush's second phase.
            full = number >= args.warm_up + args.visitors
            prefix = "full_" if full else ""
            client = app.test_client()
            path = f"/e/{rush.SLUG}/register"
            response = timed(
                prefix + "form",
                measure,
                client.get,
                path,
                headers=headers,
                base_url=base_url,
            )
            match = rush.CSRF_RE.search(response.data)
            token = (match.group(1) or match.group(2)).decode()
            body = rush.booking_body(ids, number, token)
            response = timed(
                prefix + "post",
                measure,
                client.post,
                path,
                data=body,
                base_url=base_url,
                headers={
                    **headers,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Referer": base_url + path,
                },
            )
            if full:
                if not rush.is_full_answer(response.status_code, response.data):
                    raise SystemExit(f"a POST after the last place answered {response.status_code}")
                continue
            if response.status_code != 303:
                raise SystemExit(f"POST answered {response.status_code}")
            location = urlsplit(response.headers["Location"])
            target = location.path + ("?" + location.query if location.query else "")
            response = timed(
                "page", measure, client.get, target, headers=headers, base_url=base_url
            )
            if response.status_code != 200:
                raise SystemExit(f"the page after the POST answered {response.status_code}")

        mark_postgres("end")
        meter.close()
        report = {
            "visitors": args.visitors,
            # PostgreSQL's own CPU for one visitor (its backends, summed).
            "confirmed_postgres_cpu_ms": round(
                (postgres_cpu["full"] - postgres_cpu["confirmed"]) * 1000 / args.visitors, 2
            ),
            "full_postgres_cpu_ms": round(
                (postgres_cpu["end"] - postgres_cpu["full"]) * 1000 / args.visitors, 2
            ),
            **{f"{step}_cpu_ms": round(_low(values), 2) for step, values in timings.items()},
            # The mean as well: what a long rush pays, garbage collection and all.
            **{
                f"{step}_mean_cpu_ms": round(sum(values) / len(values), 2)
                for step, values in timings.items()
            },
        }
        report["confirmed_total_cpu_ms"] = round(
            sum(report[f"{step}_cpu_ms"] for step in ("form", "post", "page")), 2
        )
        report["full_total_cpu_ms"] = round(
            sum(report[f"{step}_cpu_ms"] for step in ("full_form", "full_post")), 2
        )
        print(json.dumps(report), flush=True)
        if args.profile:
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("cumulative").print_stats(args.filter or "", args.top)
            stats.sort_stats("tottime").print_stats(args.top)
        with app.app_context():
            from conference.core.db import db

            db.session.remove()
            db.engine.dispose()
    finally:
        rush.drop_database(args.database_url, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
