"""Cells for spreadsheets: what every CSV export for Danish Excel shares.

Danish Excel splits CSV on semicolons and needs the byte order mark to read
UTF-8 (æøå). A cell that starts like a formula is run as one when the file is
opened (``=HYPERLINK(...)`` in a name typed on a public form), so every text
cell goes through ``neutralise_cell``. An XLSX file is XML 1.0, which cannot
hold most control characters (a name pasted into a public form may carry one):
every XLSX text cell goes through ``xlsx_text``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

#: A cell starting with one of these is read as a formula by Excel and LibreOffice.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_BOM = "\ufeff"
CSV_DELIMITER = ";"
CSV_LINE_END = "\r\n"
# What XML 1.0 cannot hold (openpyxl refuses the whole workbook for one of them).
_NOT_IN_XLSX = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def neutralise_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def xlsx_text(value: object) -> str:
    """A text cell's value for an XLSX sheet: the text as typed, less the control
    characters an XLSX file cannot hold (tab, line feed and carriage return stay)."""
    return _NOT_IN_XLSX.sub("", "" if value is None else str(value))


def text_cell(sheet: Worksheet, value: object, font: Font | None = None) -> WriteOnlyCell:
    """A string cell for a write-only sheet: never a formula, so ``=HYPERLINK(...)``
    is shown, not run."""
    cell = WriteOnlyCell(sheet, value=xlsx_text(value))
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell


def kroner_cell(sheet: Worksheet, ore: int) -> WriteOnlyCell:
    """An amount in øre as a number in kroner with two decimals."""
    cell = WriteOnlyCell(sheet, value=Decimal(ore).scaleb(-2))
    cell.number_format = "#,##0.00"
    return cell
