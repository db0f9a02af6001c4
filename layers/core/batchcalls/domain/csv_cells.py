"""Cells of a CSV file people open in a spreadsheet (``export.csv``): no text may run there
as a formula.

A spreadsheet reads a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula (and after
a leading tab or carriage return too), so a recipient named ``=HYPERLINK("http://x","y")``
would be a live link, or worse, in the export. OWASP's rule (CSV Injection; ASVS 1.2.10 adds
NUL): prefix such a cell with ``'``, which the spreadsheet shows as text. A plain number is
left alone — an E.164 phone number (``+14155550123``) or a negative amount reads as the
number it is, nothing runs. Hand-written: ``defusedcsv`` would wrap ``+14155550123`` in
quotes too (it spares unsigned numbers only) and escape every ``|``, changing the data.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def spreadsheet_safe(value: str) -> str:
    """``value`` as a cell no spreadsheet runs: ``'`` before one that would start a formula."""
    if value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
