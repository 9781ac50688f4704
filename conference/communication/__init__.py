"""Organisers writing to the attendees of an edition through the outbox."""
