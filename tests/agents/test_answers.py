"""Answer formats: cleaning people's answers, vote keys, correctness and display."""

from __future__ import annotations

import math

import pytest

from deliberation.debates.answers import (
    FORMATS,
    AnswerError,
    answer_key,
    clean_answer,
    format_answer,
    is_correct,
    normalise_text,
    split_choices,
    to_number,
)

CITIES = ["Paris", "London", "Berlin"]
DC = ["Washington, D.C.", "New York", "Boston"]


def test_answer_error_is_a_value_error():
    assert issubclass(AnswerError, ValueError)
    assert set(FORMATS) == {"single_choice", "multiple_choice", "numeric", "free_text", "ranking"}


# --- single choice -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "answer"),
    [("London", "London"), ("london", "London"), ("  BERLIN ", "Berlin")],
)
def test_single_choice_is_an_option(value, answer):
    assert clean_answer(value, "single_choice", CITIES) == answer


@pytest.mark.parametrize("value", ["Rome", "B", "", ["Paris"], None, True])
def test_single_choice_rejects_what_is_not_an_option(value):
    with pytest.raises(AnswerError):
        clean_answer(value, "single_choice", CITIES)


def test_single_choice_message_lists_the_options():
    with pytest.raises(AnswerError, match=r"\u201cRome\u201d is not one of the options"):
        clean_answer("Rome", "single_choice", CITIES)


def test_single_choice_with_numeric_options_accepts_a_number():
    assert clean_answer(2, "single_choice", ["1", "2", "3"]) == "2"


def test_choice_formats_need_options():
    for fmt in ("single_choice", "multiple_choice", "ranking"):
        with pytest.raises(AnswerError, match="no options"):
            clean_answer("x", fmt, [])


# --- multiple choice ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "answer"),
    [
        (["Berlin", "Paris"], ["Paris", "Berlin"]),  # canonical order: the options' order
        ("berlin, paris", ["Paris", "Berlin"]),
        ("Berlin\nLondon", ["London", "Berlin"]),
        ("Paris, paris, Paris", ["Paris"]),  # repeats dropped
        ("London", ["London"]),
        (("London", "Paris"), ["Paris", "London"]),
    ],
)
def test_multiple_choice_cleaning(value, answer):
    assert clean_answer(value, "multiple_choice", CITIES) == answer


def test_multiple_choice_options_containing_commas():
    assert clean_answer("boston, Washington, D.C.", "multiple_choice", DC) == [
        "Washington, D.C.",
        "Boston",
    ]
    assert clean_answer("Washington, D.C.", "multiple_choice", DC) == ["Washington, D.C."]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "at least one"),
        ("", "at least one"),
        ("Paris, Rome", "Rome"),
        (["Paris", 3], "not one of the options"),
        (42, "list"),
    ],
)
def test_multiple_choice_errors(value, message):
    with pytest.raises(AnswerError, match=message):
        clean_answer(value, "multiple_choice", CITIES)


# --- ranking -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        ["Berlin", "Paris", "London"],
        "Berlin > Paris > London",
        "berlin, paris, london",
        "Berlin>Paris>London",
        "Berlin\nParis\nLondon",
    ],
)
def test_ranking_cleaning(value):
    assert clean_answer(value, "ranking", CITIES) == ["Berlin", "Paris", "London"]


def test_ranking_options_containing_commas():
    assert clean_answer("Boston > Washington, D.C. > New York", "ranking", DC) == [
        "Boston",
        "Washington, D.C.",
        "New York",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Berlin > Paris", "missing: London"),
        ("Berlin > Paris > Paris", "repeated: Paris"),
        ("Berlin > Paris > Rome", "Rome"),
        ("", "missing"),
    ],
)
def test_ranking_must_be_a_permutation_of_all_options(value, message):
    with pytest.raises(AnswerError, match=message):
        clean_answer(value, "ranking", CITIES)


# --- numeric -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "number"),
    [(42, 42.0), (3.5, 3.5), ("1200", 1200.0), ("1,200.5", 1200.5), (" -3e2 ", -300.0)],
)
def test_numeric_cleaning(value, number):
    cleaned = clean_answer(value, "numeric", [])
    assert cleaned == number and isinstance(cleaned, float)


@pytest.mark.parametrize("value", ["abc", "", "inf", "nan", float("inf"), True, None, [1], "1,2"])
def test_numeric_must_be_a_finite_number(value):
    with pytest.raises(AnswerError, match="number"):
        clean_answer(value, "numeric", [])


def test_to_number():
    assert to_number("\u22125") == -5.0
    assert to_number("12,345,678") == 12345678.0
    assert to_number(False) is None


# --- free text ---------------------------------------------------------------------------------
def test_free_text_is_stripped():
    assert clean_answer("  Rayleigh scattering \n", "free_text", []) == "Rayleigh scattering"


@pytest.mark.parametrize(("value", "message"), [("   ", "empty"), ("x" * 1001, "too long")])
def test_free_text_errors(value, message):
    with pytest.raises(AnswerError, match=message):
        clean_answer(value, "free_text", [])


def test_free_text_at_the_limit():
    assert clean_answer("x" * 1000, "free_text", []) == "x" * 1000


def test_unknown_format():
    with pytest.raises(AnswerError, match="Unknown answer format"):
        clean_answer("x", "essay", [])


# --- split_choices -----------------------------------------------------------------------------
def test_split_choices_with_letters_and_numbers():
    sep = r"[ \t]*(?:>|,)[ \t]*|[ \t]+(?=[0-9]+[.)])"
    assert split_choices("B > a > (c)", CITIES, sep, letters=True) == ["London", "Paris", "Berlin"]
    assert split_choices("1. B 2. A 3. C", CITIES, sep, letters=True, numbered=True) == [
        "London",
        "Paris",
        "Berlin",
    ]
    assert split_choices("b. London, A", CITIES, sep, letters=True) == ["London", "Paris"]
    assert split_choices("B) Berlin", CITIES, sep, letters=True) is None  # disagreeing letter
    assert split_choices("D", CITIES, sep, letters=True) is None
    assert split_choices("B", CITIES, sep) is None  # letters off


# --- answer_key --------------------------------------------------------------------------------
def test_answer_key_for_choice_formats():
    assert answer_key("Paris", "single_choice") == "Paris"
    assert answer_key(["Paris", "Berlin"], "multiple_choice") == ("Paris", "Berlin")
    assert answer_key(["Berlin", "Paris"], "multiple_choice", options=CITIES) == (
        "Paris",
        "Berlin",
    )
    assert answer_key(["B", "A", "C"], "ranking") == ("B", "A", "C")
    assert answer_key(None, "ranking") is None
    assert hash(answer_key(["Paris"], "multiple_choice")) is not None


def test_answer_key_numeric_without_tolerance_is_the_number():
    assert answer_key(41.7, "numeric") == 41.7
    assert answer_key("12", "numeric") == 12.0


@pytest.mark.parametrize(
    ("value", "tolerance", "key"),
    [
        (1.1, 0.1, 1.1),
        (1.04, 0.1, 1.0),
        (1.06, 0.1, 1.1),
        (1049, 100, 1000.0),
        (1051, 100, 1100.0),
        (-0.04, 0.1, 0.0),
        (7, 0.5, 7.0),
    ],
)
def test_answer_key_numeric_snaps_to_the_tolerance_grid(value, tolerance, key):
    assert answer_key(value, "numeric", tolerance) == pytest.approx(key)


def test_numeric_answers_in_one_tolerance_bin_vote_together():
    keys = {answer_key(x, "numeric", 10) for x in (95.0, 99.9, 100.0, 104.9)}
    assert keys == {100.0}
    assert answer_key(105.0, "numeric", 10) == 110.0
    assert str(answer_key(0.3, "numeric", 0.1)) == "0.3"  # no 0.30000000000000004


def test_answer_key_free_text_is_normalised():
    variants = ["Rayleigh scattering.", "  rayleigh   SCATTERING ", "Rayleigh-scattering!"]
    assert {answer_key(v, "free_text") for v in variants} == {"rayleigh scattering"}
    assert answer_key("!!!", "free_text") == "!!!"  # nothing left to normalise: keep it


def test_normalise_text():
    assert normalise_text("The U.S.") == "the us"
    assert normalise_text("Don\u2019t stop") == "dont stop"
    assert normalise_text("pi is 3.14.") == "pi is 3.14"
    assert normalise_text("\uff21BC") == "abc"  # NFKC


# --- is_correct --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "gold", "fmt", "tolerance", "correct"),
    [
        ("Paris", "Paris", "single_choice", 0, True),
        ("paris", "Paris", "single_choice", 0, True),
        ("London", "Paris", "single_choice", 0, False),
        (["Berlin", "Paris"], ["Paris", "Berlin"], "multiple_choice", 0, True),
        (["Paris"], ["Paris", "Berlin"], "multiple_choice", 0, False),
        (["A", "B", "C"], ["A", "B", "C"], "ranking", 0, True),
        (["B", "A", "C"], ["A", "B", "C"], "ranking", 0, False),
        (42.0, 42, "numeric", 0, True),
        (42.5, 42, "numeric", 0, False),
        (42.5, 42, "numeric", 0.5, True),
        (1.1, 1.0, "numeric", 0.1, True),  # floating point error does not flip it
        (1.2, 1.0, "numeric", 0.1, False),
        ("Rayleigh scattering.", "rayleigh scattering", "free_text", 0, True),
        ("Mie scattering", "rayleigh scattering", "free_text", 0, False),
        (None, "Paris", "single_choice", 0, None),
        ("Paris", None, "single_choice", 0, None),
        ("abc", 4, "numeric", 0, False),
    ],
)
def test_is_correct(answer, gold, fmt, tolerance, correct):
    assert is_correct(answer, gold, fmt, tolerance) is correct


# --- format_answer -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "fmt", "text"),
    [
        (["B", "A", "C"], "ranking", "B > A > C"),
        (["A", "B"], "multiple_choice", "A, B"),
        ("Paris", "single_choice", "Paris"),
        (1200.0, "numeric", "1200"),
        (41.25, "numeric", "41.25"),
        (-3.0, "numeric", "-3"),
        (None, "numeric", ""),
        ("It depends", "free_text", "It depends"),
    ],
)
def test_format_answer(answer, fmt, text):
    assert format_answer(answer, fmt) == text


def test_format_answer_numbers_round_trip():
    for x in (0.1, 1 / 3, 1e20, -2.5e-7, 123456789.125):
        assert float(format_answer(x, "numeric")) == x
        assert math.isfinite(float(format_answer(x, "numeric")))
