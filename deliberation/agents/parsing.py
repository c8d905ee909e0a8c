"""Reading the structured answer out of an agent's reply, and telling agents how to give it.

Agents are asked (:func:`format_instructions`) to end their reply with closing lines:

- an answer or a judge's verdict (``answer_kind`` ``"answer"`` or ``"verdict"``)::

      ANSWER: <answer in the session's format>
      CONFIDENCE: <0 to 1>

  where the answer is one option (single choice), ``option, option`` (multiple choice),
  ``best > ... > worst`` (ranking), a number (numeric) or a short phrase (free text). For a
  verdict the confidence is the judge's probability that the answer named is correct.
- a review of another participant's solution (``answer_kind`` ``"review"``)::

      SCORE: <1-10>

  the reviewer's confidence that the reviewed solution is correct; ``confidence = score / 10``.

The parser accepts common variants: any case; markdown bold, bullets and headers around the
labels; ``Final answer:``; an option given by its letter (``B``, ``(b)``, ``b. London``); several
options as ``A, C``, ``A and C`` or letters; a ranking as ``B > A > C``, ``1. B 2. A 3. C`` (also
one item per line below an empty ``ANSWER:``), a comma list or letters; numbers with units,
words and thousands separators (``about 1,200 km`` is 1200, ``2.5 million`` is 2500000);
confidence as 0-1, a percentage, ``/10`` or ``/100`` (a bare number above 1 and at most 100 is
a percentage); and a JSON object reply ``{"answer": ..., "confidence": ..., "rationale": ...}``,
possibly in a ```` ```json ```` fence. When several answer lines appear, the last counts.

It never guesses: when nothing matches, the answer is None and ``ok`` is False, and the caller
sends :func:`repair_prompt` once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deliberation.debates.answers import MAX_FREE_TEXT, format_number, split_choices

ANSWER_KINDS = ("answer", "review", "verdict")

# Markdown bullets, headers and bold may stand before a label; a quote marker (">") may not:
# a quoted "> ANSWER: B" is someone else's answer the agent cites, never its own.
_LEAD = r"^[ \t*_#-]*"
# Horizontal whitespace only: an empty "ANSWER:" line must not swallow the next line.
_TAIL = r"[ \t*_]*[:=][ \t*_]*(?P<v>[^\n]*?)[ \t*_]*$"
_ANSWER = re.compile(_LEAD + r"(?:final[ \t]+)?answer" + _TAIL, re.I | re.M)
_VERDICT = re.compile(_LEAD + r"(?:final[ \t]+)?(?:answer|verdict)" + _TAIL, re.I | re.M)
_CONF = re.compile(
    _LEAD + r"confidence(?:[ \t]+level)?[\s*_]*[:=][\s*_]*"
    r"(?P<v>[0-9]*\.?[0-9]+)[ \t]*(?P<pct>%|/[ \t]*10{1,2}(?![0-9]))?",
    re.I | re.M,
)
_SCORE = re.compile(
    _LEAD + r"(?:final[ \t]+)?(?:review[ \t]+)?score[ \t*_]*[:=][ \t*_]*"
    r"(?P<v>[0-9]+(?:\.[0-9]+)?)(?:[ \t]*/[ \t]*(?P<d>[0-9]+))?",
    re.I | re.M,
)
_STRUCTURED = re.compile(
    _LEAD + r"(?:final[ \t]+)?(?:answer|verdict|confidence(?:[ \t]+level)?|(?:review[ \t]+)?score)"
    r"[ \t*_]*[:=]",
    re.I,
)
_LIST_ITEM = re.compile(r"^[ \t]*(?:(?P<n>[0-9]+)[.)]|[-*\u2022])[ \t]+(?P<v>\S.*?)[ \t]*$")
_NUMBER = re.compile(r"[-+]?(?:[0-9][0-9,]*\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_MULTIPLIER = re.compile(r"[ \t]*(thousand|million|billion|trillion)\b", re.I)
_MULTIPLIERS = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(?P<body>.*?)```", re.I | re.S)
_JSON_ANSWER_KEYS = ("answer", "final_answer", "verdict")
_JSON_RATIONALE_KEYS = ("rationale", "reasoning", "explanation", "argument", "justification")

MULTIPLE_SEPARATORS = r"[ \t]*(?:[,;&+\n]|\band\b)[ \t\n]*(?:and\b[ \t]*)?"
RANKING_SEPARATORS = r"[ \t]*(?:->|\u2192|>|\u227b|,|;|\n)[ \t\n]*|[ \t]+(?=[0-9]+[.)])"


@dataclass(frozen=True)
class ParsedAnswer:
    """What a reply says. ``ok``: a usable answer (a score, for a review) was found."""

    answer: Any
    confidence: float | None
    rationale: str = ""
    ok: bool = False
    score: int | None = None  # reviews only: 1..10


def parse_reply(
    text: str | None,
    answer_format: str,
    options: Sequence[str],
    *,
    answer_kind: str = "answer",
) -> ParsedAnswer:
    """Read the answer, confidence, rationale (and a review's score) out of a reply.

    ``options`` are the options as shown to the agent (letters refer to this order). For
    ``answer_kind="review"`` the reply's ``SCORE: <1-10>`` is read: ``score`` is an int 1..10,
    ``confidence = score / 10``, ``answer`` None. Otherwise (``"answer"``, ``"verdict"``) the
    answer is read in ``answer_format`` and ``score`` is None.
    """
    text = text or ""
    options = list(options or [])
    rationale = strip_structured(text)
    found = _find_json(text)
    if answer_kind == "review":
        score = _score(text)
        if score is None and found is not None:
            score = _json_score(found[0].get("score"))
        confidence = score / 10 if score is not None else None
        return ParsedAnswer(None, confidence, rationale, score is not None, score)
    pattern = _VERDICT if answer_kind == "verdict" else _ANSWER
    answer = _line_answer(text, pattern, answer_format, options)
    confidence = _confidence(text)
    if answer is None and found is not None:
        data = found[0]
        value = next((data[k] for k in _JSON_ANSWER_KEYS if k in data), None)
        answer = _json_answer(value, answer_format, options)
        if answer is not None and "confidence" in data:
            confidence = _json_confidence(data["confidence"])
    return ParsedAnswer(answer, confidence, rationale, answer is not None, None)


# --- closing lines --------------------------------------------------------------------------------
def strip_structured(text: str | None) -> str:
    """The reply without its closing ``ANSWER``/``CONFIDENCE``/``SCORE`` lines: the rationale.

    The last block of structured lines is removed (with the list items of an answer given one
    per line below an empty ``ANSWER:``), wherever it is; text after it is kept. A reply that
    is a JSON object gives its ``rationale`` (and any text around the object) instead.
    """
    text = text or ""
    lines = text.splitlines()
    last = next((i for i in range(len(lines) - 1, -1, -1) if _STRUCTURED.match(lines[i])), None)
    if last is None:
        found = _find_json(text)
        if found is None:
            return text.strip()
        data, start, end = found
        why = next((data[k] for k in _JSON_RATIONALE_KEYS if isinstance(data.get(k), str)), "")
        parts = [text[:start].strip(), why.strip(), text[end:].strip()]
        return "\n\n".join(p for p in parts if p)
    start = last
    while start > 0:
        above = lines[start - 1]
        list_item = _LIST_ITEM.match(above) and _empty_label_above(lines, start - 1)
        if not above.strip() or _STRUCTURED.match(above) or list_item:
            start -= 1
        else:
            break
    end = last + 1
    while end < len(lines) and (
        not lines[end].strip() or _STRUCTURED.match(lines[end]) or _LIST_ITEM.match(lines[end])
    ):
        end += 1
    kept = "\n".join(lines[:start]).rstrip()
    after = "\n".join(lines[end:]).strip()
    return f"{kept}\n\n{after}".strip() if after else kept


def _empty_label_above(lines: list[str], index: int) -> bool:
    """Whether list item ``index`` continues an empty ``ANSWER:`` line above it."""
    while index >= 0 and _LIST_ITEM.match(lines[index]):
        index -= 1
    if index < 0:
        return False
    match = _VERDICT.match(lines[index])
    return bool(match and not match.group("v").strip())


def format_instructions(
    answer_format: str, options: Sequence[str], answer_kind: str, score_means: str = ""
) -> str:
    """The closing lines an agent must write, for the end of its prompt.

    Answer and verdict: ``ANSWER: <one option>`` (single choice), ``ANSWER: option, option``
    (multiple choice), ``ANSWER: best > ... > worst`` (ranking), ``ANSWER: <number>``,
    ``ANSWER: <short answer>``, then ``CONFIDENCE: <0 to 1>``. Review: ``SCORE: <1-10>``.
    """
    lines, explanation = _closing(answer_format, list(options or []), answer_kind, score_means)
    count = "this line" if len(lines) == 1 else "these lines"
    return f"End your reply with {count}, exactly in this form:\n" + "\n".join(
        [*lines, explanation]
    )


def repair_prompt(
    answer_format: str, options: Sequence[str], answer_kind: str, score_means: str = ""
) -> str:
    """The one follow-up message sent when a reply's closing lines cannot be read."""
    options = list(options or [])
    lines, explanation = _closing(answer_format, options, answer_kind, score_means)
    count = "this line" if len(lines) == 1 else "these lines"
    parts = [
        "Your previous reply did not end with the required lines. "
        f"Reply with only {count}, nothing else:",
        *lines,
        explanation,
    ]
    if options and answer_format in ("single_choice", "multiple_choice", "ranking"):
        listed = "\n".join(f"{_letter(i)}. {' '.join(o.split())}" for i, o in enumerate(options))
        parts.append(f"The options are:\n{listed}")
    return "\n".join(parts)


def _closing(
    answer_format: str, options: list[str], answer_kind: str, score_means: str = ""
) -> tuple[list[str], str]:
    if answer_kind == "review" and score_means == "feedback_confidence":
        return ["SCORE: <1-10>"], (
            "The score is a whole number from 1 to 10: your confidence in your feedback "
            "(10 = the highest level of confidence)."
        )
    if answer_kind == "review":
        return ["SCORE: <1-10>"], (
            "The score is a whole number from 1 to 10: how confident you are that the solution "
            "you reviewed is correct (1 = certainly wrong, 10 = certainly correct)."
        )
    if answer_format == "single_choice":
        line, what = "ANSWER: <one option>", "one option, written exactly as listed"
    elif answer_format == "multiple_choice":
        line, what = (
            "ANSWER: option, option",
            "every option that applies (at least one), separated by commas, each written "
            "exactly as listed",
        )
    elif answer_format == "ranking":
        n = f"all {len(options)}" if options else "all the"
        line, what = (
            "ANSWER: best > ... > worst",
            f'{n} options, each exactly once, best first, separated by " > ", each written '
            "exactly as listed",
        )
    elif answer_format == "numeric":
        line, what = (
            "ANSWER: <number>",
            "a single number in digits, without units or thousands separators",
        )
    else:
        line, what = "ANSWER: <short answer>", "a short phrase on one line"
    if answer_kind == "verdict":
        what = f"the answer you judge most likely to be correct: {what}"
        probability = "your probability that this answer is correct"
    else:
        probability = "your probability that your answer is correct"
    return [line, "CONFIDENCE: <0 to 1>"], (
        f"After ANSWER give {what}. After CONFIDENCE give {probability}, a number from 0 to 1."
    )


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else str(index + 1)


# --- answers --------------------------------------------------------------------------------------
def _line_answer(text: str, pattern: re.Pattern, answer_format: str, options: list[str]) -> Any:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    last = matches[-1]  # the last answer line is the final one: agents are asked to end with it
    raw = last.group("v").strip()
    if not raw and answer_format in ("multiple_choice", "ranking"):
        raw = _list_below(text[last.end() :], answer_format)
    if not raw:  # an empty last line: an earlier non-empty one may still be the answer
        filled = [m for m in matches if m.group("v").strip()]
        if not filled:
            return None
        raw = filled[-1].group("v").strip()
    return _coerce_text(raw, answer_format, options)


def _list_below(rest: str, answer_format: str) -> str:
    """Items written one per line (``1. B`` or ``- B``) below an empty ``ANSWER:`` line."""
    items = []
    for line in rest.lstrip("\n").splitlines():
        item = _LIST_ITEM.match(line)
        if not item:
            break
        if item.group("n") is not None and int(item.group("n")) != len(items) + 1:
            return ""  # numbered out of order: do not guess the intended order
        items.append(item.group("v").strip("*_ \t"))
    return (" > " if answer_format == "ranking" else ", ").join(items)


def _coerce_text(raw: str, answer_format: str, options: list[str]) -> Any:
    raw = raw.strip().strip("\"'`").strip()
    answer = _coerce(raw, answer_format, options)
    if answer is None and raw.endswith("."):
        answer = _coerce(raw.rstrip(".").strip().strip("\"'`"), answer_format, options)
    return answer


def _coerce(raw: str, answer_format: str, options: list[str]) -> Any:
    if not raw:
        return None
    if answer_format == "single_choice":
        return _single(raw, options)
    if answer_format == "multiple_choice":
        single = _single(raw, options)
        if single is not None:
            return [single]
        items = split_choices(raw, options, MULTIPLE_SEPARATORS, letters=True)
        return _finish(items, answer_format, options)
    if answer_format == "ranking":
        items = split_choices(raw, options, RANKING_SEPARATORS, letters=True, numbered=True)
        return _finish(items, answer_format, options)
    if answer_format == "numeric":
        return _number(raw)
    return raw.rstrip(".").strip()[:MAX_FREE_TEXT] or None


def _single(raw: str, options: list[str]) -> str | None:
    lowered = {o.lower(): o for o in options}
    if raw.lower() in lowered:
        return lowered[raw.lower()]
    letter = re.fullmatch(r"(?:option[ \t]+)?\(?([A-Za-z])[).:]?(?:\s+(.*))?", raw, re.I)
    if letter:
        index = ord(letter.group(1).upper()) - ord("A")
        if 0 <= index < len(options) and (
            letter.group(2) is None or letter.group(2).lower() == options[index].lower()
        ):
            return options[index]
    return None


def _finish(items: list[str] | None, answer_format: str, options: list[str]) -> Any:
    if not items:
        return None
    if answer_format == "multiple_choice":
        chosen = set(items)
        return [o for o in options if o in chosen]
    if len(items) != len(options) or set(items) != set(options):
        return None  # a ranking must hold every option exactly once
    return items


def _number(raw: str) -> float | None:
    raw = raw.replace("\u2212", "-")
    number = _NUMBER.search(raw)
    if not number:
        return None
    try:
        value = float(number.group(0).replace(",", ""))
    except ValueError:
        return None
    scale = _MULTIPLIER.match(raw, number.end())
    if scale:
        value *= _MULTIPLIERS[scale.group(1).lower()]
    return value if math.isfinite(value) else None


# --- confidence and score -------------------------------------------------------------------------
def _confidence(text: str) -> float | None:
    matches = list(_CONF.finditer(text))
    if not matches:
        return None
    return _scaled(matches[-1].group("v"), matches[-1].group("pct"))


def _scaled(raw: str, scale: str | None) -> float | None:
    """A confidence in [0, 1]: 0-1 as is, a percentage, x/10, x/100; None if out of range."""
    try:
        value = float(raw)
    except ValueError:
        return None
    scale = (scale or "").replace(" ", "").replace("\t", "")
    if scale in ("%", "/100"):
        value /= 100
    elif scale == "/10":
        value /= 10
    elif value > 1:
        if value > 100:
            return None
        value /= 100  # "85" means 85 %
    if not (math.isfinite(value) and 0 <= value <= 1):
        return None
    return round(value, 4)


def _score(text: str) -> int | None:
    matches = list(_SCORE.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    if last.group("d") is not None and int(last.group("d")) != 10:
        return None
    return _integral_score(float(last.group("v")))


def _integral_score(value: float) -> int | None:
    if not math.isfinite(value) or not value.is_integer() or not 1 <= value <= 10:
        return None  # never round 7.5 to a score: ask again instead
    return int(value)


# --- JSON replies ---------------------------------------------------------------------------------
def _find_json(text: str) -> tuple[dict[str, Any], int, int] | None:
    """The last JSON object in the reply with an answer, verdict or score key (keys lowercased),
    with its span (including a surrounding ``` fence)."""
    found = None
    for fence in _FENCE.finditer(text):
        data = _as_answer_object(fence.group("body").strip())
        if data is not None:
            found = (data, fence.start(), fence.end())
    if found is not None:
        return found
    decoder = json.JSONDecoder()
    starts = [i for i, c in enumerate(text) if c == "{"][:200]
    for start in starts:
        if found is not None and start < found[2]:
            continue  # inside the object already found
        try:
            obj, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        data = _keys(obj)
        if data is not None:
            found = (data, start, end)
    return found


def _as_answer_object(body: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return _keys(obj)


def _keys(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    data = {str(k).strip().lower().replace(" ", "_"): v for k, v in obj.items()}
    if not any(k in data for k in (*_JSON_ANSWER_KEYS, "score")):
        return None
    return data


def _json_answer(value: Any, answer_format: str, options: list[str]) -> Any:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if answer_format == "numeric":
            number = float(value)
            return number if math.isfinite(number) else None
        value = format_number(float(value))
    if isinstance(value, str):
        return _coerce_text(value, answer_format, options)
    if isinstance(value, list):
        if answer_format in ("multiple_choice", "ranking"):
            items = []
            for item in value:
                if not isinstance(item, str | int | float) or isinstance(item, bool):
                    return None
                text = item if isinstance(item, str) else format_number(float(item))
                option = _single(text.strip().strip("\"'`").strip(), options)
                if option is None:
                    return None
                items.append(option)
            return _finish(items, answer_format, options)
        if len(value) == 1:
            return _json_answer(value[0], answer_format, options)
    return None


def _json_confidence(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _scaled(repr(float(value)), None)
    if isinstance(value, str):
        match = re.fullmatch(
            r"[ \t]*(?P<v>[0-9]*\.?[0-9]+)[ \t]*(?P<pct>%|/[ \t]*10{1,2})?[ \t]*", value
        )
        return _scaled(match.group("v"), match.group("pct")) if match else None
    return None


def _json_score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _integral_score(float(value))
    if isinstance(value, str):
        match = re.fullmatch(r"[ \t]*([0-9]+(?:\.[0-9]+)?)[ \t]*(?:/[ \t]*10)?[ \t]*", value)
        return _integral_score(float(match.group(1))) if match else None
    return None
