"""Domain errors raised by services and shown to users by views.

A service raises a DomainError subclass with a message already marked for
translation; a view catches it and shows ``error.message`` next to the form.
"""

from __future__ import annotations


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
