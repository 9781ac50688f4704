"""The rush benchmark's verdicts: what it calls a lost order, a missing e-mail, a
duplicate delivery, a shared rate-limit store. Without running the benchmark."""

from __future__ import annotations

import os
import secrets
import smtplib
import time
from collections import Counter
from email.message import EmailMessage

import pytest
from sqlalchemy import delete

from bench import rush
from bench.outbox_delivery import SmtpSink, delivery_report
from conference.core.db import db
from conference.mail.models import OutboxMessage
from conference.registration.services import place_order
from tests.conftest import booking_details, booking_form, postgres_only, rate_limited_app

# --- lost orders and the outbox, both ways ---------------------------------------------


def _rush(visitors: int) -> tuple[dict, list[dict], list[dict]]:
    """What the clients were told, the orders and the outbox of a rush that went right."""
    told, orders, mails = {}, [], []
    for number in range(visitors):
        booker, attendee = rush.visitor_emails(number)
        reference = f"DT{number:06d}"
        told[number] = reference
        orders.append(
            {
                "id": number + 1,
                "reference": reference,
                "status": "confirmed",
                "booker_email": booker,
                "attendees": [attendee],
            }
        )
        mails.append({"order_id": number + 1, "kind": "order_confirmation", "to_address": booker})
        mails.append({"order_id": number + 1, "kind": "ticket", "to_address": attendee})
    return told, orders, mails


def test_a_rush_that_went_right_has_no_lost_order_and_a_complete_outbox():
    report = rush.check_orders(*_rush(5))
    assert report["lost_orders"] == 0
    assert report["outbox_complete"] is True
    assert report["told_confirmed"] == report["orders_in_db"] == 5


def test_a_confirmation_shown_for_an_order_the_database_does_not_have_is_a_lost_order():
    told, orders, mails = _rush(5)
    del orders[2]
    mails = [mail for mail in mails if mail["order_id"] != 3]
    report = rush.check_orders(told, orders, mails)
    assert report["lost_told_not_in_db"] == 1
    assert report["lost_orders"] == 1
    assert report["order_samples"]["told_not_in_db"] == ["DT000002"]


def test_an_order_for_someone_else_than_the_visitor_who_was_told_is_lost():
    told, orders, mails = _rush(3)
    orders[1]["attendees"] = ["somebody.else@rush.example.dk"]
    assert rush.check_orders(told, orders, mails)["lost_told_not_in_db"] == 1


def test_an_order_in_the_database_that_no_visitor_was_told_about_is_a_lost_order():
    told, orders, mails = _rush(5)
    del told[4]  # e.g. the client timed out, the order was committed all the same
    report = rush.check_orders(told, orders, mails)
    assert report["lost_in_db_never_told"] == 1
    assert report["lost_told_not_in_db"] == 0
    assert report["order_samples"]["never_told"] == ["DT000004"]


def test_a_second_order_of_the_same_visitor_is_a_lost_order():
    told, orders, mails = _rush(2)
    twice = dict(orders[0], id=99)  # same booker, another reference nobody was shown
    twice["reference"] = "DTTWICE"
    assert rush.check_orders(told, [*orders, twice], mails)["lost_in_db_never_told"] == 2


def test_an_order_without_its_ticket_in_the_outbox_is_flagged():
    told, orders, mails = _rush(5)
    mails = [m for m in mails if not (m["order_id"] == 2 and m["kind"] == "ticket")]
    report = rush.check_orders(told, orders, mails)
    assert report["orders_missing_emails"] == 1
    assert report["outbox_complete"] is False
    assert report["lost_orders"] == 0


def test_a_second_copy_of_a_confirmation_and_a_row_of_no_order_are_extra():
    told, orders, mails = _rush(3)
    mails.append(dict(mails[0]))
    mails.append({"order_id": None, "kind": "ticket", "to_address": "x@rush.example.dk"})
    report = rush.check_orders(told, orders, mails)
    assert report["outbox_extra_rows"] == 2
    assert report["orders_missing_emails"] == 0
    assert report["outbox_complete"] is False


def _run_result(**changes) -> dict:
    result = {"oversold": 0, "errors_5xx": 0, "others": 0, "pingwrite_others": 0}
    result.update(consistent=True, lost_orders=0, outbox_complete=True)
    result.update(changes)
    return result


def test_a_run_fails_on_any_oversold_place_5xx_lost_order_or_missing_mail():
    assert rush.failures(_run_result()) == []
    for change in (
        {"oversold": 1},
        {"errors_5xx": 1},
        {"others": 1},
        {"lost_orders": 1},
        {"outbox_complete": False},
        {"exactly_once": False},
        {"limiter": {"shared": False}},
    ):
        assert rush.failures(_run_result(**change)), change


def test_one_failed_run_fails_the_repeat_summary():
    figures = {key: 1 for key in rush.SUMMARY_FIELDS}
    good = {**figures, "ok": True, "failures": []}
    bad = {**figures, "ok": False, "failures": ["1 lost orders"]}
    report = rush.summary([good, bad, good])
    assert report["ok"] is False
    assert report["failed_runs"] == [{"run": 2, "failures": ["1 lost orders"]}]
    assert len(report["per_run"]) == 3


def test_the_repeat_summary_gives_the_median_p99_in_ping_writes():
    figures = {key: 1 for key in rush.SUMMARY_FIELDS}
    runs = [
        {**figures, "ok": True, "failures": [], "p99_in_pingwrites": value}
        for value in (310.0, 250.5, 420.0)
    ]
    report = rush.summary(runs)
    assert report["p99_in_pingwrites_median"] == 310.0
    assert [run["p99_in_pingwrites"] for run in report["per_run"]] == [310.0, 250.5, 420.0]


@postgres_only
def test_the_database_read_finds_a_placed_order_and_flags_its_deleted_ticket(
    app, edition, database_url
):
    booker, attendee = rush.visitor_emails(7)
    details = booking_details(edition, 1, booker_email=booker)
    details.attendees[0].email = attendee
    reference = place_order(edition, details).order.reference
    db.session.commit()

    orders, mails = rush.order_records(database_url, edition.id)
    report = rush.check_orders({7: reference}, orders, mails)
    assert (report["lost_orders"], report["outbox_complete"]) == (0, True)

    db.session.execute(delete(OutboxMessage).where(OutboxMessage.kind == "ticket"))
    db.session.commit()
    report = rush.check_orders({7: reference}, *rush.order_records(database_url, edition.id))
    assert report["orders_missing_emails"] == 1
    assert report["lost_orders"] == 0


# --- delivery: each outbox row once ---------------------------------------------------


def _send(port: int, outbox_id: int | None, to: str) -> None:
    email = EmailMessage()
    email["From"] = "tilmelding@example.dk"
    email["To"] = to
    email["Subject"] = "Test"
    email["Message-ID"] = (
        f"<outbox.{outbox_id}.20260101000000000000@example.dk>"
        if outbox_id
        else "<other@example.dk>"
    )
    email.set_content("Hej")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(email)


def _rows(*ids: int, status: str = "sent") -> dict[int, dict]:
    return {
        i: {"to_address": f"p{i}@rush.example.dk", "status": status, "attempts": 1} for i in ids
    }


def test_the_sink_sees_each_message_once_when_each_was_sent_once():
    with SmtpSink() as sink:
        for outbox_id in (1, 2, 3):
            _send(sink.port, outbox_id, f"p{outbox_id}@rush.example.dk")
        received = sink.received()
    report = delivery_report(_rows(1, 2, 3), received)
    assert report["exactly_once"] is True
    assert (report["emails_expected"], report["emails_received"]) == (3, 3)
    assert (report["duplicates"], report["missing"]) == (0, 0)


def test_the_sink_catches_a_duplicate_a_missing_a_misaddressed_and_a_stray_message():
    with SmtpSink() as sink:
        _send(sink.port, 1, "p1@rush.example.dk")
        _send(sink.port, 1, "p1@rush.example.dk")  # sent twice, by two workers say
        _send(sink.port, 2, "p2@rush.example.dk")
        _send(sink.port, 4, "p3@rush.example.dk")  # row 4 is for p4
        _send(sink.port, None, "p9@rush.example.dk")
        received = sink.received()  # row 3 never came
    report = delivery_report(_rows(1, 2, 3, 4), received)
    assert report["exactly_once"] is False
    assert report["duplicates"] == 1
    assert report["missing"] == 1
    assert report["wrong_recipient"] == 1
    assert report["unexpected"] == 1
    assert report["delivery_samples"]["duplicates"] == [1]
    assert report["delivery_samples"]["missing"] == [3]


def test_a_message_the_database_still_calls_pending_is_not_delivered_exactly_once():
    rows = {**_rows(1), **_rows(2, status="pending")}
    with SmtpSink() as sink:
        _send(sink.port, 1, "p1@rush.example.dk")
        _send(sink.port, 2, "p2@rush.example.dk")
        received = sink.received()
    report = delivery_report(rows, received)
    assert report["db_not_marked_sent"] == 1
    assert report["exactly_once"] is False


# --- the rate-limit store -------------------------------------------------------------


def _redis_or_skip(url: str) -> None:
    try:
        rush._redis(url).ping()
    except Exception as error:  # noqa: BLE001 - any connection failure skips
        message = f"needs Redis at {url} ({type(error).__name__})"
        if os.environ.get("CI"):
            pytest.fail(message)  # .ci/run starts Redis: in CI its absence is a broken set-up
        pytest.skip(message)


def test_the_limits_are_counted_in_redis_under_the_names_the_benchmark_reads(database_url, edition):
    url = "redis://127.0.0.1:6379/9"
    _redis_or_skip(url)
    prefix = f"rushtest_{secrets.token_hex(4)}"
    limited = rate_limited_app(
        database_url,
        RATELIMIT_STORAGE_URI=url,
        RATELIMIT_KEY_PREFIX=prefix,
        REGISTRATION_RATE_LIMIT=rush.BENCH_RATE_LIMIT,
        MANAGE_RATE_LIMIT=rush.BENCH_RATE_LIMIT,
    )
    register = f"/e/{edition.slug}/register"
    forms = [booking_form(edition, 1, **{"attendees-0-email": f"p{n}@aarhus.dk"}) for n in range(2)]
    db.session.commit()  # the other app's requests write: hold no transaction open
    client = limited.test_client()
    try:
        for form in forms:
            assert client.post(register, data=form).status_code == 303
        assert client.get("/m/not-a-token").status_code == 404
        sent = Counter({(1, "POST /e/rush/register"): 2, (1, "GET /m/<token>"): 1})

        report = rush.limiter_report(url, rush.limiter_hits(url, prefix), sent)
        assert report["shared"] is True
        assert (report["register_hits_in_redis"], report["manage_hits_in_redis"]) == (2, 1)
        assert rush.limiter_hits(url, prefix) == {}  # read once, then deleted
    finally:
        rush.limiter_hits(url, prefix)  # nothing of the test stays in Redis


# --- CPU by phase -----------------------------------------------------------------------


class _FakeMeter:
    """Readings that grow at a known rate: 2 ms of server CPU per ms until t=1, then 1."""

    def __init__(self, clock):
        self.clock = clock

    def read(self):
        now = self.clock()
        server = 2 * min(now, 1.0) + max(now - 1.0, 0.0)
        return {"client": 0.0, "server": server, "postgres": now / 10, "machine": server}


def test_the_cpu_of_a_phase_is_cut_out_between_the_samples_around_its_ends():
    moments = iter([0.0, 0.5, 1.5, 2.0])
    clock_value = {"now": 0.0}
    sampler = rush.CpuSampler(_FakeMeter(lambda: clock_value["now"]))
    for moment in moments:
        clock_value["now"] = moment
        sampler.samples.append((moment, sampler.meter.read()))
    # The phase boundary at t=1 falls between samples; interpolation is exact here
    # except for the bend at t=1 itself, which lies between 0.5 and 1.5.
    open_phase = rush.cpu_per_request_ms(sampler.at(0.0), sampler.at(0.5), 100)
    full_phase = rush.cpu_per_request_ms(sampler.at(1.5), sampler.at(2.0), 100)
    assert open_phase["server"] == pytest.approx(10.0)  # 1 s of CPU over 100 requests
    assert full_phase["server"] == pytest.approx(5.0)
    assert full_phase["postgres"] == pytest.approx(0.5)
    # Outside the samples, the nearest reading stands.
    assert sampler.at(-1.0) == sampler.samples[0][1]
    assert sampler.at(9.0) == sampler.samples[-1][1]


def test_the_sampler_reads_the_meter_while_the_rush_runs_and_once_at_the_end():
    readings = []

    class Meter:
        def read(self):
            readings.append(1)
            return {"client": float(len(readings)), "server": 0.0, "postgres": 0.0, "machine": 0.0}

    with rush.CpuSampler(Meter(), interval=0.01) as sampler:
        deadline = time.monotonic() + 0.2
        while len(sampler.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(sampler.samples) >= 4
    moments = [moment for moment, _reading in sampler.samples]
    assert moments == sorted(moments)


def test_a_request_is_priced_in_ping_writes_over_every_process():
    registration = {"client": 0.5, "server": 6.0, "postgres": 1.5, "other_processes": 0.0}
    ping = {"client": 0.2, "server": 1.6, "postgres": 0.2, "other_processes": 0.0}
    assert rush.in_pingwrites(registration, ping) == 4.0
