"""Domain errors raised by services and shown to users by views.

A service raises a DomainError subclass with a message already marked for
translation; a view catches it and shows ``error.message`` next to the form.
"""

from __future__ import annotations

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class DomainError(Exception):
    """A rule of the domain refused the operation; nothing was changed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The thing asked for does not exist (or the token does not match)."""


class RegistrationClosed(DomainError):
    """Registration for the edition is not open now."""


class NotEnoughPlaces(DomainError):
    """Fewer places are left than were asked for."""

    def __init__(self, message: str, places_left: int) -> None:
        super().__init__(message)
        self.places_left = places_left


class CapacityConflict(DomainError):
    """A capacity change would put capacity below what is already taken."""


# --- the database could not be reached --------------------------------------------
#
# Not a domain error: a dropped connection, a restarted or failed-over server, a
# full pool, a lock or statement timeout. The request's transaction is gone (the
# server rolls back a transaction whose connection died), so a page can say
# "nothing was saved", but only if no COMMIT had been sent in this request: a
# connection lost during COMMIT leaves it unknown whether the commit happened.

_COMMIT_STARTED = "conference.db_commit_started"


def database_unavailable(error: BaseException) -> bool:
    """Whether an exception (or what caused it) means the database was unreachable or
    dropped the connection, so that trying again later may work; not a bug."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError | PoolTimeout):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def commit_started_in_request() -> bool:
    """Whether this request has sent (or tried to send) a COMMIT."""
    return has_request_context() and bool(request.environ.get(_COMMIT_STARTED))


@event.listens_for(Engine, "commit")
def _note_commit(_connection) -> None:
    # Fired just before a real COMMIT goes to the database (not for savepoints).
    if has_request_context():
        request.environ[_COMMIT_STARTED] = True
