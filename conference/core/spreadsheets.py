"""Cells for spreadsheets: what every CSV export for Danish Excel shares.

Danish Excel splits CSV on semicolons and needs the byte order mark to read
UTF-8 (æøå). A cell that starts like a formula is run as one when the file is
opened (``=HYPERLINK(...)`` in a name typed on a public form), so every text
cell goes through ``neutralise_cell``.
"""

from __future__ import annotations

#: A cell starting with one of these is read as a formula by Excel and LibreOffice.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_BOM = "\ufeff"
CSV_DELIMITER = ";"
CSV_LINE_END = "\r\n"


def neutralise_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text
