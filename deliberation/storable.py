"""Text PostgreSQL cannot store.

JSON may escape NUL ("\\u0000") and lone UTF-16 surrogates ("\\ud800"); neither fits in a
PostgreSQL text or jsonb column, so data holding one is refused where it comes in (an API body,
an imported row) with a reason, instead of failing deep inside a write.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def unstorable(value: Any) -> str | None:
    """Why ``value`` (any JSON-like data) cannot be stored, or None when it can."""
    for text in _strings(value):
        if "\x00" in text:
            return "text may not contain NUL (\\u0000)"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a string holds a lone surrogate escape, not valid Unicode"
    return None
