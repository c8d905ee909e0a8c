"""Reading the structured answer out of an agent's reply.

Agents are asked to end their reply with lines ``ANSWER: ...`` and ``CONFIDENCE: ...`` (see
``prompts.FORMAT_INSTRUCTIONS``). The parser accepts common variants (any case, markdown bold,
a percentage or a 0-10/0-100 scale for confidence, an option given by its letter) and never
guesses: when nothing matches, the answer is None.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

# Horizontal whitespace only: an empty "ANSWER:" line must not swallow the next line.
_ANSWER = re.compile(
    r"^[ \t*_#>-]*(?:final[ \t]+)?answer[ \t*_]*[:=][ \t*_]*(?P<v>[^\n]*?)[ \t*_]*$", re.I | re.M
)
_NUMBER = re.compile(r"[-+]?(?:[0-9][0-9,]*\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_CONF = re.compile(
    r"^[\s*_#>-]*confidence[\s*_]*[:=][\s*_]*(?P<v>[0-9]*\.?[0-9]+)\s*(?P<pct>%|/\s*10{1,2})?",
    re.I | re.M,
)


@dataclass(frozen=True)
class ParsedAnswer:
    answer: Any
    confidence: float | None


def parse_reply(text: str, answer_format: str, options: list[str]) -> ParsedAnswer:
    answer = None
    matches = [m for m in _ANSWER.finditer(text or "") if m.group("v").strip()]
    if matches:  # the last answer line is the final one: agents are asked to end with it
        raw = matches[-1].group("v").strip().strip("\"'`")
        answer = _coerce(raw, answer_format, options)
        if answer is None and raw.endswith("."):
            answer = _coerce(raw.rstrip(".").strip("\"'`"), answer_format, options)
    return ParsedAnswer(answer=answer, confidence=_confidence(text or ""))


def _coerce(raw: str, answer_format: str, options: list[str]) -> Any:
    if answer_format == "single_choice":
        lowered = {o.lower(): o for o in options}
        if raw.lower() in lowered:
            return lowered[raw.lower()]
        letter = re.fullmatch(r"\(?([A-Za-z])[).:]?(?:\s+(.*))?", raw)
        if letter:
            index = ord(letter.group(1).upper()) - ord("A")
            if 0 <= index < len(options) and (
                letter.group(2) is None or letter.group(2).lower() == options[index].lower()
            ):
                return options[index]
        return None
    if answer_format == "numeric":
        number = _NUMBER.search(raw)
        if not number:
            return None
        try:
            value = float(number.group(0).replace(",", ""))
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return raw.rstrip(".").strip()[:1000] or None


def _confidence(text: str) -> float | None:
    match = _CONF.search(text)
    if not match:
        return None
    value = float(match.group("v"))
    scale = (match.group("pct") or "").replace(" ", "")
    if scale == "%" or scale == "/100":
        value /= 100
    elif scale == "/10":
        value /= 10
    elif value > 1:
        value = value / 100 if value <= 100 else None  # "85" means 85 %
    if value is None or not 0 <= value <= 1:
        return None
    return round(value, 4)
