"""Answer formats: validating, comparing, voting on and displaying answers.

Pure functions, no Django import. A session has one answer format:

``single_choice``
    one of the session's options (a ``str``).
``multiple_choice``
    every option that applies: a non-empty ``list[str]`` of options, without repeats, in the
    options' order (the canonical order).
``numeric``
    a finite ``float``. Sessions have a ``tolerance`` >= 0: an answer within the tolerance of the
    gold answer is correct, and answers in the same tolerance bin vote together.
``free_text``
    a non-empty ``str``, stripped, at most :data:`MAX_FREE_TEXT` characters. Compared after
    normalisation (:func:`normalise_text`).
``ranking``
    every option exactly once, best first (a ``list[str]``).

:func:`clean_answer` turns what a person typed (or an API client sent) into the canonical value
or raises :class:`AnswerError` with a message fit to show that person. :func:`answer_key` gives
the hashable value votes are counted on, :func:`is_correct` compares with a gold answer and
:func:`format_answer` renders an answer for people and prompts.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Hashable, Sequence
from typing import Any

SINGLE_CHOICE = "single_choice"
MULTIPLE_CHOICE = "multiple_choice"
NUMERIC = "numeric"
FREE_TEXT = "free_text"
RANKING = "ranking"
FORMATS = (SINGLE_CHOICE, MULTIPLE_CHOICE, NUMERIC, FREE_TEXT, RANKING)
CHOICE_FORMATS = (SINGLE_CHOICE, MULTIPLE_CHOICE, RANKING)  # answers are made of options
MAX_FREE_TEXT = 1000

# Separators people may use when typing several options into one text field.
MULTIPLE_SEPARATORS = r"[ \t]*[,\n][ \t\n]*"
RANKING_SEPARATORS = r"[ \t]*[,>\n][ \t\n]*"

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_LETTER = re.compile(r"\(?([A-Za-z])([).:]?)")
_NUMBERED = re.compile(r"(\d+)[.)][ \t]*")


class AnswerError(ValueError):
    """An answer does not fit the session's answer format; the message is user-facing."""


# --- cleaning ------------------------------------------------------------------------------------
def clean_answer(value: Any, fmt: str, options: Sequence[str]) -> Any:
    """Return the canonical form of ``value`` for answer format ``fmt``.

    - single choice: an option, matched case-insensitively (surrounding spaces ignored);
    - multiple choice: a list of options, or a string of options separated by commas or
      newlines; matched case-insensitively, repeats dropped, returned in the options' order;
      at least one;
    - ranking: a list, or a string separated by commas or ``>``, holding every option exactly
      once, best first;
    - numeric: a finite number, or a string such as ``"1200"``, ``"1,200.5"``, ``"-3e2"``;
      returned as ``float``;
    - free text: a non-empty string of at most :data:`MAX_FREE_TEXT` characters, stripped.

    Raises :class:`AnswerError` with a message that can be shown to the person who answered.
    """
    options = list(options or [])
    if fmt == SINGLE_CHOICE:
        _need_options(options)
        text = _scalar_text(value, "Choose one of the options.")
        match = _match_option(text, options)
        if match is None:
            raise AnswerError(f"{_quote(text)} is not one of the options ({_listed(options)}).")
        return match
    if fmt == MULTIPLE_CHOICE:
        _need_options(options)
        items = _items(value, options, MULTIPLE_SEPARATORS)
        if not items:
            raise AnswerError("Choose at least one option.")
        chosen = set(items)
        return [o for o in options if o in chosen]
    if fmt == RANKING:
        _need_options(options)
        items = _items(value, options, RANKING_SEPARATORS)
        repeated = sorted({o for o in items if items.count(o) > 1}, key=options.index)
        if repeated:
            raise AnswerError(f"Rank each option once; repeated: {_listed(repeated)}.")
        missing = [o for o in options if o not in items]
        if missing:
            raise AnswerError(f"Rank every option; missing: {_listed(missing)}.")
        return items
    if fmt == NUMERIC:
        number = to_number(value)
        if number is None:
            raise AnswerError("The answer must be a number, for example 42 or 3.5.")
        return number
    if fmt == FREE_TEXT:
        text = _scalar_text(value, "The answer must be text.")
        if not text:
            raise AnswerError("The answer is empty.")
        if len(text) > MAX_FREE_TEXT:
            raise AnswerError(f"The answer is too long (at most {MAX_FREE_TEXT} characters).")
        return text
    raise AnswerError(f"Unknown answer format {fmt!r}.")


def to_number(value: Any) -> float | None:
    """A finite float from a number or a numeric string (thousands commas allowed), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace("\u2212", "-").replace("_", "")
        if _THOUSANDS.fullmatch(text):
            text = text.replace(",", "")
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def split_choices(
    text: str,
    options: Sequence[str],
    separators: str,
    *,
    letters: bool = False,
    numbered: bool = False,
) -> list[str] | None:
    """Read a string of several options, e.g. ``"Paris, Berlin"``; None if any piece is unknown.

    At each position the longest option that matches (case-insensitively) and is followed by a
    separator (the regular expression ``separators``) or the end wins, so options that contain
    a separator, such as ``"Washington, D.C."``, are read whole. With ``letters``, an option may
    also be given by its letter (``A``, ``(b)``, ``C)``, or ``b. London`` when the text agrees
    with the letter); an exact option wins over a letter. With ``numbered``, each item may carry
    its position (``1. B 2. A``), which must count up from 1. Repeats are kept: the caller
    decides what they mean.
    """
    sep = re.compile(separators, re.I)
    by_length = sorted((o for o in options if o), key=len, reverse=True)
    s = text.strip()
    items: list[str] = []
    pos = 0
    while pos < len(s):
        if numbered:
            number = _NUMBERED.match(s, pos)
            if number and int(number.group(1)) == len(items) + 1:
                pos = number.end()
        found = _option_at(s, pos, by_length, options, sep, letters)
        if found is None:
            return None
        items.append(found[0])
        pos = found[1]
        if pos == len(s):
            break
        gap = sep.match(s, pos)
        if not gap or gap.end() == pos:
            return None
        pos = gap.end()
    return items or None


def _option_at(s, pos, by_length, options, sep, letters) -> tuple[str, int] | None:
    lowered = s.lower()
    for option in by_length:
        end = pos + len(option)
        if lowered.startswith(option.lower(), pos) and _boundary(s, end, sep):
            return option, end
    if not letters:
        return None
    letter = _LETTER.match(s, pos)
    if not letter or (s[pos] == "(" and letter.group(2) != ")"):
        return None
    index = ord(letter.group(1).upper()) - ord("A")
    if not 0 <= index < len(options):
        return None
    end = letter.end()
    spaced = re.compile(r"[ \t]+").match(s, end)
    if spaced:  # "b. London": the text must agree with the letter
        option = options[index]
        start = spaced.end()
        if lowered.startswith(option.lower(), start) and _boundary(s, start + len(option), sep):
            return option, start + len(option)
    if _boundary(s, end, sep):
        return options[index], end
    return None


def _boundary(s: str, end: int, sep: re.Pattern) -> bool:
    if end == len(s):
        return True
    gap = sep.match(s, end)
    return bool(gap and gap.end() > end)


def _items(value: Any, options: list[str], separators: str) -> list[str]:
    if isinstance(value, str):
        if not value.strip():
            return []
        whole = _match_option(value, options)
        if whole is not None:
            return [whole]
        items = split_choices(value, options, separators)
        if items is not None:
            return items
        pieces = [p.strip() for p in re.split(separators, value) if p.strip()]
    elif isinstance(value, list | tuple):
        pieces = [_scalar_text(p, "Each chosen option must be text.") for p in value]
    else:
        raise AnswerError("Give the options as a list or as text separated by commas.")
    items = []
    for piece in pieces:
        match = _match_option(piece, options)
        if match is None:
            raise AnswerError(f"{_quote(piece)} is not one of the options ({_listed(options)}).")
        items.append(match)
    return items


def _match_option(text: str, options: Sequence[str]) -> str | None:
    text = text.strip()
    if text in options:
        return text
    folded = text.casefold()
    matches = [o for o in options if o.strip().casefold() == folded]
    return matches[0] if len(matches) == 1 else None


def _scalar_text(value: Any, message: str) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(float(value))
    raise AnswerError(message)


def _need_options(options: list[str]) -> None:
    if not options:
        raise AnswerError("This question has no options to choose from.")


def _quote(text: str) -> str:
    return f"\u201c{text if len(text) <= 80 else text[:77] + '...'}\u201d"


def _listed(options: Sequence[str]) -> str:
    return ", ".join(options)


# --- voting and scoring --------------------------------------------------------------------------
def normalise_text(text: str) -> str:
    """Free text as compared and voted on.

    Unicode NFKC, casefolded; apostrophes and full stops removed (``"U.S."`` = ``"US"``,
    ``"don't"`` = ``"dont"``) except a decimal point between digits; other punctuation becomes
    a space; runs of whitespace become one space; the ends are stripped.
    """
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    text = re.sub(r"(?<=\d)\.(?=\d)", "\0", text)  # keep decimal points
    text = re.sub(r"['\u2018\u2019.]", "", text)
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(text.replace("\0", ".").split())


def answer_key(
    answer: Any, fmt: str, tolerance: float = 0.0, *, options: Sequence[str] | None = None
) -> Hashable | None:
    """The hashable value votes are counted on; None for no answer.

    - choice formats: lists become tuples. A multiple-choice answer is expected in canonical
      order (as :func:`clean_answer` returns it); pass ``options`` to reorder it anyway;
    - numeric: the float itself; with ``tolerance`` > 0 it is snapped to the nearest multiple
      of the tolerance, ``k * tolerance`` with ``k = floor(x / tolerance + 1/2)``, so answers
      within one tolerance bin ``[(k - 1/2) t, (k + 1/2) t)`` count as the same answer. (Two
      answers less than one tolerance apart may still fall into neighbouring bins.)
    - free text: :func:`normalise_text`, so case, spacing and punctuation do not split votes.
    """
    if answer is None:
        return None
    if fmt == NUMERIC:
        number = to_number(answer)
        if number is None:
            return None
        if tolerance and tolerance > 0:
            snapped = math.floor(number / tolerance + 0.5) * tolerance
            return float(f"{snapped:.12g}") + 0.0  # + 0.0: no negative zero
        return number
    if fmt == FREE_TEXT:
        return normalise_text(answer) or str(answer).strip().casefold()
    if isinstance(answer, list | tuple):
        if fmt == MULTIPLE_CHOICE:
            chosen = set(answer)
            if options:
                return tuple(o for o in options if o in chosen)
            return tuple(dict.fromkeys(answer))
        return tuple(answer)
    if fmt == MULTIPLE_CHOICE:
        return (answer,)
    return answer


def is_correct(answer: Any, gold: Any, fmt: str, tolerance: float = 0.0) -> bool | None:
    """Whether ``answer`` matches the gold answer; None if either is missing.

    numeric: ``|answer - gold| <= tolerance`` (plus a relative 1e-9 for floating-point error);
    single choice: same option (case-insensitive); multiple choice: the same set of options;
    ranking: the identical order; free text: equal after :func:`normalise_text`.
    """
    if answer is None or gold is None:
        return None
    if fmt == NUMERIC:
        a, g = to_number(answer), to_number(gold)
        if a is None or g is None:
            return False
        slack = 1e-9 * max(1.0, abs(g))
        return abs(a - g) <= max(tolerance or 0.0, 0.0) + slack
    if fmt == FREE_TEXT:
        return normalise_text(answer) == normalise_text(gold)
    if fmt == MULTIPLE_CHOICE:
        return _folded_set(answer) == _folded_set(gold)
    if fmt == RANKING:
        return _folded_list(answer) == _folded_list(gold)
    return str(answer).strip().casefold() == str(gold).strip().casefold()


def _folded_list(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    return [str(x).strip().casefold() for x in items]


def _folded_set(value: Any) -> set[str]:
    return set(_folded_list(value))


# --- display -------------------------------------------------------------------------------------
def format_number(number: float) -> str:
    """A number as people write it: ``1200`` rather than ``1200.0``; exact (round-trips)."""
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(number)


def format_answer(answer: Any, fmt: str) -> str:
    """An answer for display and prompts: ranking ``"A > B > C"``, multiple choice ``"A, B"``,
    numbers without a needless ``.0``; ``""`` for no answer."""
    if answer is None:
        return ""
    if isinstance(answer, list | tuple):
        joiner = " > " if fmt == RANKING else ", "
        return joiner.join(str(x) for x in answer)
    if isinstance(answer, float | int) and not isinstance(answer, bool):
        return format_number(float(answer))
    return str(answer)
