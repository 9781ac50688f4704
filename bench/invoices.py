"""Invoice PDFs and the accounting archive: render time, stored downloads, a ZIP of 1,000.

Builds a fresh database (a temporary SQLite file, or BENCH_DATABASE_URL, which
is emptied and migrated), opens an edition and places --invoices orders of one
place each through the registration service, so each gets its own invoice the
way the app issues them. Then, with the app's test client logged in as an
accounting user:

- pdf_render_ms_p50: ``render_invoice_pdf`` on --samples distinct invoices
  (after one warm-up render), the median in ms;
- stored_download_ms_p50: ``GET /staff/accounting/documents/<id>/pdf`` of
  --samples distinct invoices whose PDF is stored, the median in ms, and
  ``download_speedup`` = render p50 / download p50 (target: 20 or more);
- zip_1000_s: ``GET /staff/accounting/archive.zip`` of the period holding all
  the invoices, read to the end chunk by chunk (written to a temporary file,
  checked afterwards: one PDF and one UBL per invoice);
- zip_rss_growth_mb: the process's peak resident memory while streaming less
  its resident memory just before (peak reset through /proc/self/clear_refs).

The PDFs of every invoice are rendered and stored before the ZIP is timed
(``zip_pdfs: "stored"``), so the ZIP measures the archive itself; with
--lazy-zip the ZIP renders and stores them on the way (``zip_pdfs: "rendered
on the way"``). Prints one JSON line.

    .venv/bin/python bench/invoices.py --invoices 1000 --samples 30
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNTANT = "accounting@bench.example.dk"
PASSWORD = "bench password 1234"
BATCH = 50


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Start VmHWM afresh from the current RSS (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _p50_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 1)


def _build_database(app, count: int) -> tuple[list[int], object]:
    """Migrate, open an edition, place ``count`` invoiced orders; (invoice ids, period)."""
    from flask_migrate import upgrade
    from sqlalchemy import select, text

    from conference.auth.services import create_staff_user
    from conference.core.db import db, utcnow
    from conference.events.commands import create_demo_edition
    from conference.invoicing.accounting import Period
    from conference.invoicing.models import Invoice
    from conference.registration.services import AttendeeDetails, BookingDetails, place_order

    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade()
    edition = create_demo_edition(utcnow().year + 1, capacity=count + 10, slug="bench")
    edition.registration_opens_at = utcnow() - timedelta(days=1)
    edition.registration_closes_at = utcnow() + timedelta(days=30)
    create_staff_user(ACCOUNTANT, "accounting", PASSWORD, actor="bench")
    db.session.commit()
    ticket_type_id = edition.ticket_types[0].id
    for number in range(count):
        details = BookingDetails(
            ticket_type_id=ticket_type_id,
            booker_name=f"Bogholder {number}",
            booker_email=f"bogholder{number}@kommune{number % 98}.dk",
            booker_phone="+45 70 10 10 10",
            organisation=f"Kommune nr. {number}",
            organisation_type="municipality",
            invoice_organisation=f"Kommune nr. {number}, Økonomi og Digitalisering",
            invoice_address=f"Rådhuspladsen {number % 90 + 1}",
            invoice_postcode="8000",
            invoice_city="Aarhus C",
            cvr="55133018",
            ean="5798000000001",
            personreference=f"REF-{number}",
            buyer_order_number=f"PO-{number}",
            accounting_cost="1234-5678-90",
            attendees=[
                AttendeeDetails(
                    name=f"Deltager {number}",
                    email=f"deltager{number}@kommune.dk",
                    job_title="Konsulent",
                )
            ],
        )
        place_order(edition, details)
        if number % BATCH == BATCH - 1:
            db.session.commit()
    db.session.commit()
    ids = list(db.session.scalars(select(Invoice.id).order_by(Invoice.id)))
    days = list(db.session.scalars(select(Invoice.issued_on).order_by(Invoice.issued_on)))
    period = Period(days[0], days[-1])
    db.session.remove()
    return ids, period


def _render_samples(app, ids: list[int], samples: int) -> list[float]:
    from conference.core.db import db
    from conference.invoicing.models import Invoice
    from conference.invoicing.pdf import render_invoice_pdf

    times = []
    with app.app_context():
        render_invoice_pdf(db.session.get(Invoice, ids[-1]))  # warm-up: fonts, stylesheet
        for invoice_id in ids[:samples]:
            invoice = db.session.get(Invoice, invoice_id)
            started = time.perf_counter()
            pdf = render_invoice_pdf(invoice)
            times.append(time.perf_counter() - started)
            assert pdf.startswith(b"%PDF-")
        db.session.remove()
    return times


def _store_all_pdfs(app, ids: list[int]) -> float:
    from conference.core.db import db
    from conference.invoicing.models import Invoice
    from conference.invoicing.pdf import stored_pdf

    started = time.perf_counter()
    with app.app_context():
        for start in range(0, len(ids), BATCH):
            for invoice_id in ids[start : start + BATCH]:
                stored_pdf(db.session.get(Invoice, invoice_id))
            db.session.commit()
            db.session.expunge_all()
        db.session.remove()
    return time.perf_counter() - started


def _logged_in_client(app):
    client = app.test_client()
    response = client.post("/staff/login", data={"email": ACCOUNTANT, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def _download_samples(app, client, ids: list[int], samples: int) -> list[float]:
    from conference.core.db import db
    from conference.invoicing.pdf import stored_pdf

    with app.app_context():  # make sure the sampled PDFs are stored
        from conference.invoicing.models import Invoice

        for invoice_id in ids[:samples]:
            stored_pdf(db.session.get(Invoice, invoice_id))
        db.session.commit()
        db.session.remove()
    client.get(f"/staff/accounting/documents/{ids[-1]}/pdf")  # warm-up
    times = []
    for invoice_id in ids[:samples]:
        started = time.perf_counter()
        response = client.get(f"/staff/accounting/documents/{invoice_id}/pdf")
        body = response.get_data()
        times.append(time.perf_counter() - started)
        assert response.status_code == 200 and body.startswith(b"%PDF-")
    return times


def _stream_zip(client, period, target: Path) -> tuple[float, float, int]:
    """(seconds, RSS growth in MB, bytes) of reading the period's ZIP to the end."""
    gc.collect()
    rss_before_kb = _status_kb("VmRSS")
    exact_peak = _reset_peak_rss()
    peak_kb = rss_before_kb
    size = 0
    started = time.perf_counter()
    response = client.get(
        "/staff/accounting/archive.zip",
        query_string={"start": period.start.isoformat(), "end": period.end.isoformat()},
        buffered=False,
    )
    assert response.status_code == 200, response.status_code
    with target.open("wb") as out:
        for chunk in response.iter_encoded():
            out.write(chunk)
            size += len(chunk)
            if not exact_peak:
                peak_kb = max(peak_kb, _status_kb("VmRSS"))
    response.close()
    seconds = time.perf_counter() - started
    if exact_peak:
        peak_kb = _status_kb("VmHWM")
    return seconds, (peak_kb - rss_before_kb) / 1024, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument(
        "--lazy-zip",
        action="store_true",
        help="do not store the PDFs first: the ZIP renders them on the way",
    )
    args = parser.parse_args()

    from conference import create_app

    with tempfile.TemporaryDirectory(prefix="bench-invoices-") as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
        started = time.perf_counter()
        with app.app_context():
            ids, period = _build_database(app, args.invoices)
        setup_s = time.perf_counter() - started

        render = _render_samples(app, ids, args.samples)
        client = _logged_in_client(app)
        download = _download_samples(app, client, ids, args.samples)
        store_s = None if args.lazy_zip else _store_all_pdfs(app, ids)

        archive = Path(tmp) / "archive.zip"
        zip_s, rss_growth_mb, zip_bytes = _stream_zip(client, period, archive)
        with zipfile.ZipFile(archive) as check:
            names = check.namelist()
            assert len(names) == 2 * len(ids), (len(names), len(ids))
            assert sum(n.endswith(".pdf") for n in names) == len(ids)
            assert check.read(names[0])[:5] == b"%PDF-"

        render_p50 = _p50_ms(render)
        download_p50 = _p50_ms(download)
        result = {
            "invoices": len(ids),
            "database": url.split(":", 1)[0],
            "pdf_render_ms_p50": render_p50,
            "pdf_render_ms_max": round(max(render) * 1000, 1),
            "stored_download_ms_p50": download_p50,
            "download_speedup": round(render_p50 / download_p50, 1) if download_p50 else None,
            "zip_1000_s": round(zip_s, 2),
            "zip_rss_growth_mb": round(rss_growth_mb, 1),
            "zip_mb": round(zip_bytes / 1e6, 1),
            "zip_entries": len(names),
            "zip_pdfs": "rendered on the way" if args.lazy_zip else "stored",
            "store_all_pdfs_s": round(store_s, 1) if store_s is not None else None,
            "setup_s": round(setup_s, 1),
            "samples": args.samples,
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
