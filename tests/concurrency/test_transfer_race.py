"""Transfers racing each other and racing the door, with real threads (PostgreSQL).

The rule: a checked-in place cannot be transferred, and a transferred ticket
cannot be checked in. Both are conditional writes on the same attendee row, so
whatever the timing each race ends in exactly one of the two outcomes, and the
database, the answers and the e-mails agree on which.
"""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import func, select

from conference.checkin.services import ScanResult, check_in_code
from conference.core.db import db
from conference.core.errors import DomainError
from conference.events.models import Edition
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee
from conference.registration.services import place_order
from conference.transfers.models import PlaceTransfer, TransferStatus
from conference.transfers.services import Colleague, TransferConflict, request_transfer
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only


def _order(edition, count: int):
    placed = place_order(edition, booking_details(edition, count))
    db.session.commit()
    places = [(a.id, a.ticket_code, a.ticket_version) for a in placed.order.attendees]
    edition_id = edition.id
    db.session.close()
    return edition_id, places


def _transferrer(attendee_id: int, version: int, who: str, hold: float = 0.0):
    def job():
        attendee = db.session.get(Attendee, attendee_id)
        try:
            result = request_transfer(
                attendee,
                Colleague(who, f"{who}@aarhus.dk"),
                expected_version=version,
                requested_by="booker",
                requester_email="hanne@aarhus.dk",
            )
        except DomainError as refusal:
            db.session.rollback()
            return ("refused", type(refusal).__name__)
        time.sleep(hold)  # keep the row locked a while before the commit
        return ("transferred", result.transfer.id)

    return job


def _checker(edition_id: int, code: str, hold: float = 0.0):
    def job():
        answer = check_in_code(db.session.get(Edition, edition_id), code, actor="staff:1")
        time.sleep(hold)
        return answer.result

    return job


def _no_crashes(outcomes) -> None:
    crashes = [o.trace for o in outcomes if o.error is not None]
    assert not crashes, "\n".join(crashes)


def test_two_transfers_of_the_same_place_at_once_one_wins(race_app, edition):
    _edition_id, places = _order(edition, 1)
    attendee_id, _code, version = places[0]
    jobs = [_transferrer(attendee_id, version, f"kollega{n}x") for n in range(8)]
    outcomes = run_together(race_app, jobs)
    _no_crashes(outcomes)
    results = Counter(o.value[0] for o in outcomes)
    assert results == {"transferred": 1, "refused": 7}
    assert {o.value[1] for o in outcomes if o.value[0] == "refused"} == {TransferConflict.__name__}
    winner = next(o.value[1] for o in outcomes if o.value[0] == "transferred")
    transfer = db.session.get(PlaceTransfer, winner)
    attendee = db.session.get(Attendee, attendee_id)
    assert attendee.email == transfer.to_email and attendee.ticket_version == version + 1
    assert db.session.scalar(select(func.count()).select_from(PlaceTransfer)) == 1
    tickets = db.session.scalars(
        select(OutboxMessage.to_address).where(OutboxMessage.kind == "transfer_ticket")
    ).all()
    assert tickets == [transfer.to_email]


def test_two_scans_of_the_same_ticket_at_once_one_is_admitted(race_app, edition):
    edition_id, places = _order(edition, 1)
    _id, code, _version = places[0]
    outcomes = run_together(race_app, [_checker(edition_id, code) for _ in range(8)])
    _no_crashes(outcomes)
    assert Counter(o.value for o in outcomes) == {
        ScanResult.ADMITTED: 1,
        ScanResult.ALREADY_CHECKED_IN: 7,
    }


def _check_consistent(attendee_id: int, code: str, transfer_outcome, scan_result) -> str:
    """Exactly one of the two happened, and everything says the same one."""
    attendee = db.session.get(Attendee, attendee_id)
    completed = db.session.scalar(
        select(func.count())
        .select_from(PlaceTransfer)
        .where(
            PlaceTransfer.attendee_id == attendee_id,
            PlaceTransfer.status == TransferStatus.COMPLETED,
        )
    )
    if scan_result is ScanResult.ADMITTED:
        assert transfer_outcome == ("refused", "TransferRefused")
        assert attendee.checked_in_at is not None and attendee.ticket_code == code
        assert completed == 0
        return "checked in"
    assert scan_result is ScanResult.TRANSFERRED, scan_result
    assert transfer_outcome[0] == "transferred"
    assert attendee.checked_in_at is None and attendee.ticket_code != code
    assert completed == 1
    return "transferred"


def test_a_transfer_racing_a_check_in_ends_in_exactly_one_of_them(race_app, edition):
    edition_id, places = _order(edition, 12)
    jobs = []
    for n, (attendee_id, code, version) in enumerate(places):
        jobs.append(_transferrer(attendee_id, version, f"ny{n}"))
        jobs.append(_checker(edition_id, code))
    outcomes = run_together(race_app, jobs)
    _no_crashes(outcomes)
    ends = Counter()
    for n, (attendee_id, code, _version) in enumerate(places):
        transfer, scan = outcomes[2 * n].value, outcomes[2 * n + 1].value
        ends[_check_consistent(attendee_id, code, transfer, scan)] += 1
    assert sum(ends.values()) == 12
    transferred = ends["transferred"]
    tickets = db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == "transfer_ticket")
    )
    assert tickets == transferred


def test_a_check_in_holding_the_row_makes_the_waiting_transfer_fail(race_app, edition):
    edition_id, places = _order(edition, 1)
    attendee_id, code, version = places[0]

    def late_transfer():
        time.sleep(0.15)  # the scan has written and holds the row until it commits
        return _transferrer(attendee_id, version, "sent")()

    outcomes = run_together(race_app, [_checker(edition_id, code, hold=0.6), late_transfer])
    _no_crashes(outcomes)
    assert outcomes[0].value is ScanResult.ADMITTED
    assert _check_consistent(attendee_id, code, outcomes[1].value, outcomes[0].value)


def test_a_transfer_holding_the_row_makes_the_waiting_scan_fail(race_app, edition):
    edition_id, places = _order(edition, 1)
    attendee_id, code, version = places[0]

    def late_scan():
        time.sleep(0.15)  # the transfer has written and holds the row until it commits
        return _checker(edition_id, code)()

    outcomes = run_together(race_app, [_transferrer(attendee_id, version, "sent", 0.6), late_scan])
    _no_crashes(outcomes)
    assert outcomes[1].value is ScanResult.TRANSFERRED
    assert _check_consistent(attendee_id, code, outcomes[0].value, outcomes[1].value)
