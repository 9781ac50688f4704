"""Editions of the event, ticket types and the capacity they share."""
