"""The outbox worker against an SMTP server that is down, refuses for now, or drops
the connection at the worst moment (a real aiosmtpd server in the test process).

What "exactly once" can honestly promise: a message is sent again only when the
worker cannot know whether the server took it. When the server answers (250,
4xx, 5xx) each message is delivered exactly once. When the connection drops
after the message was transferred but before the server's answer, or the
database fails after the server's 250 and before the message is marked sent,
the message is sent again: at least once, never lost, and every copy carries
the same Message-ID, so the receiving side can see it is one message.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from conference.core.db import db, utcnow
from conference.mail.models import OutboxStatus
from conference.mail.services import send_due_messages
from conference.registration.services import place_order
from tests.conftest import booking_details, postgres_only
from tests.faults.conftest import connection_killed_at_commit
from tests.mail.helpers import outbox

BOOKER = "hanne@aarhus.dk"


def _order(edition, places: int = 2, who: str = "") -> list[str]:
    """Place an invoice order (a confirmation and a ticket per place); its addresses."""
    details = booking_details(edition, places, booker_email=f"{who}hanne@aarhus.dk")
    for index, attendee in enumerate(details.attendees):
        attendee.email = f"{who}kollega{index + 1}@aarhus.dk"
    place_order(edition, details)
    db.session.commit()
    return [details.booker_email, *(a.email for a in details.attendees)]


def _state() -> dict[str, tuple[str, int]]:
    db.session.expire_all()
    return {m.to_address: (m.status, m.attempts) for m in outbox()}


def _message_ids(inbox, address: str) -> set[str]:
    return {m["Message-ID"] for m in inbox.to(address)}


# --- down, then back ----------------------------------------------------------------


def test_a_long_outage_is_retried_with_growing_backoff_and_each_message_sent_once(
    edition, faulty_smtp
):
    addresses = _order(edition, 2)
    start = utcnow()
    tried_at: dict[str, list] = {address: [] for address in addresses}

    # The worker polls every minute for a quarter of an hour; nothing listens.
    for minute in range(15):
        now = start + timedelta(minutes=minute, seconds=1)
        before = _state()
        result = send_due_messages(now=now)
        after = _state()
        assert result.sent == 0 and result.gave_up == 0
        # One connection attempt per round: the round stops at an unreachable server.
        assert result.failed <= 1
        for address in addresses:
            if after[address][1] > before[address][1]:
                tried_at[address].append(minute)

    first = tried_at[BOOKER]
    gaps = [later - earlier for earlier, later in zip(first, first[1:], strict=False)]
    assert gaps[:3] == [1, 2, 4], tried_at
    assert all(status == OutboxStatus.PENDING for status, _ in _state().values())

    faulty_smtp.start()
    # Back up: each message goes at its own next attempt, none before it, none lost.
    assert send_due_messages(now=start + timedelta(minutes=15, seconds=1)).sent < 3
    assert send_due_messages(now=start + timedelta(hours=2)).sent >= 1
    assert send_due_messages(now=start + timedelta(days=1)).sent == 0

    assert faulty_smtp.inbox.copies() == Counter(addresses)
    assert all(status == OutboxStatus.SENT for status, _ in _state().values())


def test_an_outage_longer_than_the_retry_budget_waits_for_the_operator_then_sends_once(
    app, edition, faulty_smtp
):
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    addresses = _order(edition, 1)
    now = utcnow()
    for _round in range(12):
        send_due_messages(now=now)
        now += timedelta(hours=1)
    assert {status for status, _ in _state().values()} == {OutboxStatus.FAILED}

    faulty_smtp.start()
    # Failed messages are not retried by themselves (that is what failed means) ...
    assert send_due_messages(now=now).sent == 0
    # ... until an operator queues them again after the outage.
    cli = app.test_cli_runner().invoke(args=["outbox", "retry-failed"])
    assert cli.exit_code == 0 and "Queued 2" in cli.output
    assert send_due_messages().sent == 2
    assert send_due_messages(now=utcnow() + timedelta(days=1)).sent == 0
    assert faulty_smtp.inbox.copies() == Counter(addresses)


# --- the server answers "not now" ---------------------------------------------------


def test_a_451_after_the_data_is_retried_later_and_delivered_once_the_others_go_on(
    edition, faulty_smtp
):
    addresses = _order(edition, 2)
    faulty_smtp.inbox.tempfail["kollega1@aarhus.dk"] = 1
    faulty_smtp.start()

    result = send_due_messages()

    # The same connection carried on with the next message.
    assert (result.sent, result.failed, result.gave_up) == (2, 1, 0)
    state = _state()
    assert state["kollega1@aarhus.dk"] == (OutboxStatus.PENDING, 1)
    (refused,) = [m for m in outbox() if m.to_address == "kollega1@aarhus.dk"]
    assert "451" in refused.last_error
    assert refused.next_attempt_at >= utcnow() + timedelta(seconds=50)
    assert send_due_messages().sent == 0  # waiting for its backoff

    assert send_due_messages(now=utcnow() + timedelta(minutes=2)).sent == 1
    assert faulty_smtp.inbox.answered_451 == 1
    assert faulty_smtp.inbox.copies() == Counter(addresses)
    assert _state()["kollega1@aarhus.dk"] == (OutboxStatus.SENT, 2)


# --- the connection drops after the server took the message --------------------------


def test_a_drop_after_the_data_on_a_fresh_connection_sends_again_later_with_the_same_id(
    edition, faulty_smtp
):
    addresses = _order(edition, 2)
    faulty_smtp.inbox.drop_after_accept[BOOKER] = 1  # the first message of the round
    faulty_smtp.start()

    result = send_due_messages()

    # The server has it; the worker could not know, so it counts as not sent, and
    # like a server gone away the round stops (the others wait for the next one).
    assert (result.sent, result.failed) == (0, 1)
    assert len(faulty_smtp.inbox.to(BOOKER)) == 1
    assert _state()[BOOKER] == (OutboxStatus.PENDING, 1)

    send_due_messages()  # the others
    send_due_messages(now=utcnow() + timedelta(minutes=2))  # the booker's again

    copies = faulty_smtp.inbox.copies()
    assert copies[BOOKER] == 2, "sent again: at least once, not exactly once"
    assert all(copies[address] == 1 for address in addresses[1:])
    assert len(_message_ids(faulty_smtp.inbox, BOOKER)) == 1
    assert _state()[BOOKER] == (OutboxStatus.SENT, 2)
    assert send_due_messages(now=utcnow() + timedelta(days=1)).sent == 0


def test_a_drop_after_the_data_on_a_used_connection_is_sent_again_at_once_with_the_same_id(
    edition, faulty_smtp
):
    addresses = _order(edition, 2)
    # Dropped after the server took the second message of the round: the worker
    # takes it for a connection the server closed while idle and sends once more.
    faulty_smtp.inbox.drop_after_accept["kollega1@aarhus.dk"] = 1
    faulty_smtp.start()

    result = send_due_messages()

    assert (result.sent, result.failed) == (3, 0)
    copies = faulty_smtp.inbox.copies()
    assert copies["kollega1@aarhus.dk"] == 2
    assert copies[BOOKER] == copies["kollega2@aarhus.dk"] == 1
    assert len(_message_ids(faulty_smtp.inbox, "kollega1@aarhus.dk")) == 1
    assert all(status == OutboxStatus.SENT for status, _ in _state().values())
    assert send_due_messages(now=utcnow() + timedelta(days=1)).sent == 0
    assert sum(faulty_smtp.inbox.copies().values()) == len(addresses) + 1


def test_every_message_has_one_message_id_whatever_the_attempt(edition, faulty_smtp):
    _order(edition, 1)
    faulty_smtp.inbox.tempfail[BOOKER] = 1
    faulty_smtp.start()
    send_due_messages()
    send_due_messages(now=utcnow() + timedelta(minutes=2))
    ids = {m["To"]: m["Message-ID"] for m in faulty_smtp.inbox.messages}
    assert len(set(ids.values())) == 2  # distinct messages, distinct ids
    assert all(value.endswith("@example.dk>") for value in ids.values())


# --- the database fails after the server took the message (PostgreSQL) -----------------


@postgres_only
def test_the_database_lost_after_the_250_means_the_message_is_sent_again_never_lost(
    app, edition, faulty_smtp, terminate_backend
):
    addresses = _order(edition, 2)
    faulty_smtp.start()

    # The worker's connection dies as it commits "sent" for the first message.
    with connection_killed_at_commit(db.engine, terminate_backend) as victims:
        with pytest.raises(OperationalError):
            send_due_messages()
    assert victims
    assert len(faulty_smtp.inbox.to(BOOKER)) == 1

    # The `outbox run` loop logs that and goes on; the row was never marked sent.
    db.session.remove()
    assert _state()[BOOKER] == (OutboxStatus.PENDING, 0)
    assert send_due_messages().sent == 3

    copies = faulty_smtp.inbox.copies()
    assert copies[BOOKER] == 2
    assert all(copies[address] == 1 for address in addresses[1:])
    assert len(_message_ids(faulty_smtp.inbox, BOOKER)) == 1
    assert all(status == OutboxStatus.SENT for status, _ in _state().values())


# --- two workers at once, through an outage and refusals (PostgreSQL) --------------------


@postgres_only
def test_two_workers_through_an_outage_and_451s_send_each_message_exactly_once(
    app, edition, faulty_smtp
):
    # tests/mail/test_delivery.py shows two workers sharing a healthy queue; here
    # the server is down first, then refuses some messages for now.
    addresses = _order(edition, 4, who="a.") + _order(edition, 4, who="b.")
    for address in addresses[1::3]:
        faulty_smtp.inbox.tempfail[address] = 1
    faulty_smtp.inbox.delay = 0.02  # each message keeps its lock a while: they overlap
    start = utcnow()

    def both_workers(now) -> list[int]:
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def work(index: int) -> None:
            with app.app_context():
                try:
                    barrier.wait(timeout=30)
                    results[index] = send_due_messages(now=now)
                except BaseException as error:  # noqa: BLE001 - reported below
                    results[index] = error
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert not [r for r in results if isinstance(r, BaseException)], results
        return results

    down = both_workers(start)
    assert sum(r.failed for r in down) <= 2 and sum(r.sent for r in down) == 0
    faulty_smtp.start()
    rounds = [both_workers(start + timedelta(minutes=m)) for m in (0, 3, 10, 60)]

    assert faulty_smtp.inbox.copies() == Counter(addresses)
    assert faulty_smtp.inbox.answered_451 == len(addresses[1::3])
    assert sum(r.sent for results in rounds for r in results) == len(addresses)
    # Both took part in the first round after the outage.
    assert min(r.sent for r in rounds[0]) > 0
    assert all(status == OutboxStatus.SENT for status, _ in _state().values())
