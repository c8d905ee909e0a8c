"""CSV writing that spreadsheets cannot turn into formulas (docs/security.md, "CSV exports").

A spreadsheet opening a CSV file runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=HYPERLINK(...)`` leaks data when clicked, ``=cmd|...`` runs a program in old Excel),
and tab or carriage return can hide such a start. Exports carry text that people and models
wrote, so every CSV export writes through :func:`writer`, which applies :func:`safe_cell`:

* a **text** cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a single
  quote in front (OWASP's rule), which spreadsheets show as text and do not evaluate;
* except text that is a plain decimal number (``-3.5``, ``+2``, ``-1e-3``): a spreadsheet reads
  it as that number, never as a formula, so it is written unchanged;
* numbers (``int``, ``float``) and everything else that is not text are written as they are.

A program reading the file back sees the quote; strip one leading ``'`` before a character of
``=+-@\\t\\r`` to get the original text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet evaluates (see the module's rule)."""
    if isinstance(value, str) and value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` with :func:`safe_cell` applied to every cell."""

    def __init__(self, f, *args, **kwargs) -> None:
        self._writer = csv.writer(f, *args, **kwargs)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(f, *args, **kwargs) -> SafeWriter:
    """Use instead of ``csv.writer`` for every file a person may open in a spreadsheet."""
    return SafeWriter(f, *args, **kwargs)
