"""Orders, attendees and the waiting list."""
