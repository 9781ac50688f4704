"""A transfer (or its approval, or a check-in) racing an organiser's cancellation of
the same place, with real threads on PostgreSQL.

A cancellation locks the order row and re-reads its places; a transfer and the
approval of a request take the same lock first, and the cancellation writes the
place conditionally on what it read (status, ticket version, check-in). So
whatever the timing the place ends in one of two consistent states, and the
person who holds the place when it is cancelled is the one told:

- cancelled first: the place is cancelled, the transfer refused, no new ticket;
- transferred first: the new holder's place is valid (a cancellation made from
  the page opened before is refused) or, cancelled afterwards, the new holder
  gets the cancellation.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import event, select

from conference.checkin.services import ScanResult, check_in_code
from conference.core.db import db
from conference.core.errors import DomainError
from conference.core.i18n import force_locale
from conference.events.models import Edition, Quota
from conference.invoicing.models import Invoice
from conference.mail.models import OutboxMessage
from conference.registration.models import Attendee
from conference.registration.services import cancel_attendee, place_order
from conference.transfers.models import PlaceTransfer, TransferStatus
from conference.transfers.services import Colleague, approve_transfer, request_transfer
from tests.concurrency.conftest import run_together
from tests.conftest import booking_details, postgres_only

pytestmark = postgres_only


def _order(edition, count: int):
    placed = place_order(edition, booking_details(edition, count))
    db.session.commit()
    places = [(a.id, a.email, a.ticket_code, a.ticket_version) for a in placed.order.attendees]
    edition_id = edition.id
    db.session.close()
    return edition_id, places


def _mails(kind: str) -> list[str]:
    db.session.expire_all()
    return sorted(
        db.session.scalars(select(OutboxMessage.to_address).where(OutboxMessage.kind == kind))
    )


def _credit_notes() -> int:
    return len(db.session.scalars(select(Invoice).where(Invoice.kind == "credit_note")).all())


def _no_crashes(outcomes) -> None:
    crashes = [o.trace for o in outcomes if o.error is not None]
    assert not crashes, "\n".join(crashes)


class PauseBeforePlaceWrite:
    """Hold the cancelling thread just before it writes the place's status.

    That is the gap between the cancellation's read of the places (under the
    order lock) and its write, where a transfer or a check-in that does not wait
    for the order lock would slip in.
    """

    def __init__(self, race_app, seconds: float) -> None:
        with race_app.app_context():
            self.engine = db.engine
        self.seconds = seconds
        self.threads: set[int] = set()
        self.paused = threading.Event()

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hook)

    def pause_this_thread(self) -> None:
        self.threads.add(threading.get_ident())

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() in self.threads and statement.startswith(
            "UPDATE attendee SET status"
        ):
            self.paused.set()
            time.sleep(self.seconds)


def _wait(signal: threading.Event | None) -> None:
    if signal is not None:
        assert signal.wait(timeout=20), "the other thread never got there"


def _canceller(attendee_id: int, *, version: int | None = None, pause=None, after=None):
    """Cancel the place (as the organiser's form does when ``version`` is given).

    ``after``: start cancelling only once the other thread has written (not committed).
    """

    def job():
        # The organiser's request has read the place before the other one committed.
        attendee = db.session.get(Attendee, attendee_id)
        _wait(after)
        if pause is not None:
            pause.pause_this_thread()
        with force_locale("en_GB"):
            try:
                cancel_attendee(
                    attendee, actor="staff:1", reason="Aflyst", expected_version=version
                )
            except DomainError as refusal:
                db.session.rollback()
                return ("refused", refusal.message)
        return ("cancelled", None)

    return job


def _transferrer(attendee_id: int, version: int, email: str, *, after=None, hold=0.0, done=None):
    """Transfer the place; ``after``: once the cancellation is in its gap; ``done``: set
    when the transfer is written, which it then holds uncommitted for ``hold`` seconds."""

    def job():
        _wait(after)
        attendee = db.session.get(Attendee, attendee_id)
        try:
            request_transfer(
                attendee,
                Colleague("Ny Kollega", email),
                expected_version=version,
                requested_by="booker",
                requester_email="hanne@aarhus.dk",
            )
        except DomainError as refusal:
            db.session.rollback()
            return ("refused", type(refusal).__name__)
        if done is not None:
            done.set()
        time.sleep(hold)  # the transfer holds its locks a while before the commit
        return ("transferred", None)

    return job


def test_a_transfer_in_the_cancellations_gap_waits_and_is_refused(race_app, edition):
    """The cancellation has read the place and is about to write it; the transfer comes."""
    _id, places = _order(edition, 2)
    attendee_id, old_email, _code, version = places[0]
    with PauseBeforePlaceWrite(race_app, 0.8) as pause:
        outcomes = run_together(
            race_app,
            [
                _canceller(attendee_id, version=version, pause=pause),
                _transferrer(attendee_id, version, "ny@aarhus.dk", after=pause.paused),
            ],
        )
    _no_crashes(outcomes)
    assert pause.paused.is_set()
    assert outcomes[0].value == ("cancelled", None)
    assert outcomes[1].value == ("refused", "TransferRefused")
    attendee = db.session.get(Attendee, attendee_id)
    assert attendee.status == "cancelled" and attendee.email == old_email
    assert _mails("transfer_ticket") == []
    assert _mails("place_cancelled") == [old_email]


@pytest.mark.parametrize("from_the_page", [True, False])
def test_a_cancellation_waiting_for_a_transfer_tells_the_new_holder(
    race_app, edition, from_the_page
):
    """The transfer holds the order while the cancellation comes (read before it)."""
    _id, places = _order(edition, 2)
    attendee_id, old_email, _code, version = places[0]
    written = threading.Event()
    outcomes = run_together(
        race_app,
        [
            _transferrer(attendee_id, version, "ny@aarhus.dk", hold=0.8, done=written),
            _canceller(attendee_id, version=version if from_the_page else None, after=written),
        ],
    )
    _no_crashes(outcomes)
    assert outcomes[0].value == ("transferred", None)
    attendee = db.session.get(Attendee, attendee_id)
    assert attendee.email == "ny@aarhus.dk"
    assert _mails("transfer_ticket") == ["ny@aarhus.dk"]
    if from_the_page:
        # The organiser's page showed the old holder: the new holder's place stays.
        assert outcomes[1].value[0] == "refused"
        assert "changed hands" in outcomes[1].value[1]
        assert attendee.status == "confirmed"
        assert _mails("place_cancelled") == [] and _credit_notes() == 0
    else:
        # Cancelled after the transfer: the person who holds it now is told.
        assert outcomes[1].value == ("cancelled", None)
        assert attendee.status == "cancelled"
        assert _mails("place_cancelled") == ["ny@aarhus.dk"]
        assert old_email not in _mails("place_cancelled")


def test_transfers_racing_cancellations_end_consistently(race_app, edition):
    _id, places = _order(edition, 12)
    racing = places[:10]  # two stay, so the order stays confirmed
    jobs = []
    for n, (attendee_id, _email, _code, version) in enumerate(racing):
        jobs.append(_transferrer(attendee_id, version, f"ny{n}@aarhus.dk"))
        jobs.append(_canceller(attendee_id, version=version))
    outcomes = run_together(race_app, jobs)
    _no_crashes(outcomes)
    ends = Counter()
    cancelled_mails = _mails("place_cancelled")
    tickets = _mails("transfer_ticket")
    for n, (attendee_id, old_email, _code, _version) in enumerate(racing):
        transfer, cancel = outcomes[2 * n].value, outcomes[2 * n + 1].value
        attendee = db.session.get(Attendee, attendee_id)
        new_email = f"ny{n}@aarhus.dk"
        if cancel[0] == "cancelled":
            assert transfer == ("refused", "TransferRefused")
            assert attendee.status == "cancelled" and attendee.email == old_email
            assert old_email in cancelled_mails and new_email not in tickets
            ends["cancelled"] += 1
        else:
            assert transfer == ("transferred", None)
            assert "changed hands" in cancel[1]
            assert attendee.status == "confirmed" and attendee.email == new_email
            assert new_email in tickets and old_email not in cancelled_mails
            ends["transferred"] += 1
    assert sum(ends.values()) == 10
    assert len(cancelled_mails) == ends["cancelled"] == _credit_notes()
    quota = db.session.scalar(select(Quota.taken))
    assert quota == 12 - ends["cancelled"]


def _pending_request(edition):
    """A request to hand place 1 outside the organisation, waiting for approval."""
    _id, places = _order(edition, 2)
    attendee_id, _email, _code, version = places[0]
    attendee = db.session.get(Attendee, attendee_id)
    result = request_transfer(
        attendee,
        Colleague("Ekstern Konsulent", "ekstern@firma.dk"),
        expected_version=version,
        requested_by="booker",
        requester_email="hanne@aarhus.dk",
        confirmed_outside=True,
    )
    assert result.is_pending
    transfer_id = result.transfer.id
    db.session.commit()
    db.session.close()
    return attendee_id, version, transfer_id


def _approver(transfer_id: int, *, after=None, hold=0.0, done=None):
    def job():
        _wait(after)
        try:
            approve_transfer(db.session.get(PlaceTransfer, transfer_id), actor="staff:2")
        except DomainError as refusal:
            db.session.rollback()
            return ("refused", type(refusal).__name__)
        if done is not None:
            done.set()
        time.sleep(hold)
        return ("approved", None)

    return job


def test_an_approval_holding_the_order_makes_the_cancellation_see_the_new_holder(race_app, edition):
    attendee_id, _version, transfer_id = _pending_request(edition)
    written = threading.Event()
    outcomes = run_together(
        race_app,
        [_approver(transfer_id, hold=0.8, done=written), _canceller(attendee_id, after=written)],
    )
    _no_crashes(outcomes)
    assert outcomes[0].value == ("approved", None)
    assert outcomes[1].value == ("cancelled", None)
    attendee = db.session.get(Attendee, attendee_id)
    assert attendee.email == "ekstern@firma.dk" and attendee.status == "cancelled"
    assert _mails("place_cancelled") == ["ekstern@firma.dk"]


def test_an_approval_in_the_cancellations_gap_waits_and_finds_the_request_closed(race_app, edition):
    attendee_id, version, transfer_id = _pending_request(edition)
    with PauseBeforePlaceWrite(race_app, 0.8) as pause:
        outcomes = run_together(
            race_app,
            [
                _canceller(attendee_id, version=version, pause=pause),
                _approver(transfer_id, after=pause.paused),
            ],
        )
    _no_crashes(outcomes)
    assert pause.paused.is_set()
    assert outcomes[0].value == ("cancelled", None)
    assert outcomes[1].value[0] == "refused"
    attendee = db.session.get(Attendee, attendee_id)
    assert attendee.status == "cancelled" and attendee.email == "kollega1@aarhus.dk"
    request = db.session.get(PlaceTransfer, transfer_id)
    assert request.status == TransferStatus.SUPERSEDED and request.note == "place_cancelled"
    assert _mails("transfer_ticket") == []
    assert _mails("place_cancelled") == ["kollega1@aarhus.dk"]


def test_a_check_in_in_the_cancellations_gap_refuses_the_cancellation(race_app, edition):
    edition_id, places = _order(edition, 2)
    attendee_id, _email, code, version = places[0]

    def scan():
        _wait(pause.paused)  # the cancellation has read the place and not written it
        return check_in_code(db.session.get(Edition, edition_id), code, actor="staff:3").result

    with PauseBeforePlaceWrite(race_app, 0.8) as pause:
        outcomes = run_together(
            race_app, [_canceller(attendee_id, version=version, pause=pause), scan]
        )
    _no_crashes(outcomes)
    assert pause.paused.is_set()
    assert outcomes[1].value is ScanResult.ADMITTED
    assert outcomes[0].value[0] == "refused"
    attendee = db.session.get(Attendee, attendee_id)
    assert attendee.status == "confirmed" and attendee.checked_in_at is not None
    assert _credit_notes() == 0 and _mails("place_cancelled") == []
    assert db.session.scalar(select(Quota.taken)) == 2
