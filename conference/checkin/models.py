"""Check-in state lives on the place itself (``Attendee.checked_in_at``/``checked_in_by``).

It is set with one conditional write on the attendee row, the same row a
transfer changes, so a check-in and a transfer of the same place racing each
other end in exactly one of them. This area has no tables of its own.
"""

from __future__ import annotations
