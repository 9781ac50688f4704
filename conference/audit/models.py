"""The audit log has no tables of its own here: every area writes
``conference.core.models.AuditEvent`` through ``conference.core.services``; this
area only reads it."""
