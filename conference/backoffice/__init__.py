"""Organiser and accounting screens."""
