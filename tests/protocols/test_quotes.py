"""Quote verification against a judged debate's passage, as Khan et al. 2024's code does it."""

from __future__ import annotations

import re
import string

import pytest

from deliberation.protocols.quotes import (
    is_verified,
    marked_text,
    normalize_text,
    segments,
    verify_quotes,
)


# --- the authors' code, verbatim (ucl-dark/llm_debate, MIT licence) ----------------------------
# web/backend/services/parser.py, TranscriptParser.normalize_text and the inner function of
# TranscriptParser.verify_strict (with the story passed in), used as the reference.
def reference_normalize_text(text):
    text = text.replace("”", '"').replace("“", '"')
    text = text.replace("’", "'").replace("‘", "'")  # noqa: RUF001
    text = text.translate(str.maketrans("", "", string.punctuation)).lower()
    text = " ".join(text.split())
    return text


def reference_verify_quotes(s, story):
    story_normalised = reference_normalize_text(story)

    def is_quote_present(quote):
        quote_normalised = reference_normalize_text(quote)
        return quote_normalised in story_normalised

    for quote_tag in ["<v_quote>", "<u_quote>"]:
        s = s.replace(quote_tag, "<quote>")
    for quote_tag in ["</v_quote>", "</u_quote>"]:
        s = s.replace(quote_tag, "</quote>")
    verified_quotes = []
    unverified_quotes = []

    def change_tag(match):
        quote = match.group(1)
        if is_quote_present(quote):
            verified_quotes.append(quote)
            return f"<v_quote>{quote}</v_quote>"
        else:
            unverified_quotes.append(quote)
            return f"<u_quote>{quote}</u_quote>"

    modified_s = re.sub(r"<quote>(.*?)</quote>", change_tag, s)
    return modified_s, verified_quotes, unverified_quotes


# --- worked examples ---------------------------------------------------------------------------
STORY = (
    "“I don\u2019t care,” said Captain Mora. "
    "The ship\u2019s hull groaned -- twice -- under the strain.\n"
    "Nobody aboard the Perseus had slept for three days."
)


def test_normalisation_drops_ascii_punctuation_case_and_extra_spaces():
    text = "“I don\u2019t care,”  said\n Captain Mora."
    assert normalize_text(text) == "i dont care said captain mora"
    # Only ASCII punctuation goes: an em dash or an ellipsis character stays.
    assert normalize_text("Wait\u2014what\u2026") == "wait\u2014what\u2026"
    assert normalize_text("A-B_C") == "abc"


@pytest.mark.parametrize(
    "quote, verified",
    [
        ("I don't care, said Captain Mora", True),  # straight for curly quotes, commas dropped
        ("i DONT care said   captain mora.", True),  # case, punctuation and spacing ignored
        ("The ship's hull groaned twice", True),  # "--" is punctuation: it disappears
        ("Nobody aboard the Perseus had slept", True),
        ("had slept for four days", False),  # one word changed
        ("Captain Mora groaned", False),  # words from the passage, not in this order
        ("Perseus had slept for three days. Nobody", False),
        ("erseu", True),  # a plain substring test: it may start and end inside words
        ("", True),  # an empty quote is a substring of anything
    ],
)
def test_a_quote_is_verified_when_it_is_a_substring_after_normalisation(quote, verified):
    assert is_verified(quote, STORY) is verified
    _, good, bad = reference_verify_quotes(f"<quote>{quote}</quote>", STORY)
    assert (good == [quote]) is verified and (bad == [quote]) is (not verified)


ARGUMENTS = [
    "Plain text with no quote at all.",
    'The captain says <quote>"I don\'t care"</quote>, then <quote>the hull sank</quote>.',
    # A debater cannot write their own verified mark: it is checked like any quote.
    "<v_quote>The hull exploded</v_quote> and <u_quote>under the strain</u_quote>.",
    # Mixed tags pair up as in the authors' code (after the rewrite every tag is plain).
    "<quote>Nobody aboard</v_quote> then <v_quote>three days</quote>.",
    # A quote over a line break is not a quote (no re.DOTALL); the next one on a line is.
    "<quote>Nobody aboard\nthe Perseus</quote> but <quote>had slept</quote>",
    # Unclosed and nested tags: the shortest match to the next closing tag.
    "<quote>Captain <quote>Mora</quote> said",
    "Text in plain “quotation marks” is left alone: “I don\u2019t care”.",
    "<quote></quote> empty, <quote>ship\u2019s hull</quote> curly apostrophe",
]


@pytest.mark.parametrize("text", ARGUMENTS)
def test_marks_and_marked_text_agree_with_the_authors_verify_strict(text):
    marks = verify_quotes(text, STORY)
    expected, good, bad = reference_verify_quotes(text, STORY)
    assert marked_text(text, marks) == expected
    assert [m["verified"] for m in marks].count(True) == len(good)
    assert [m["verified"] for m in marks].count(False) == len(bad)
    # The spans point at each quote's content in the text as written.
    assert [text[m["start"] : m["end"]] for m in marks] == [
        q for q in re.findall(r"<(?:v_|u_)?quote>(.*?)</(?:v_|u_)?quote>", text)
    ]


def test_worked_example_of_a_debaters_argument():
    text = (
        "The crew was exhausted: <quote>Nobody aboard the Perseus had slept for three days"
        "</quote>. My opponent's <v_quote>the captain slept soundly</v_quote> is invented."
    )
    marks = verify_quotes(text, STORY)
    assert [m["verified"] for m in marks] == [True, False]
    assert marked_text(text, marks) == (
        "The crew was exhausted: <v_quote>Nobody aboard the Perseus had slept for three days"
        "</v_quote>. My opponent's <u_quote>the captain slept soundly</u_quote> is invented."
    )
    assert segments(text, marks) == [
        ("The crew was exhausted: ", ""),
        ("Nobody aboard the Perseus had slept for three days", "verified"),
        (". My opponent's ", ""),
        ("the captain slept soundly", "unverified"),
        (" is invented.", ""),
    ]


def test_without_marks_every_quote_tag_is_made_plain_and_nothing_is_marked():
    text = "<v_quote>forged</v_quote> and <u_quote>other</u_quote>"
    assert marked_text(text, None) == "<quote>forged</quote> and <quote>other</quote>"
    assert segments(text, None) == [(text, "")]
    # Marks that no longer fit the text (edited by hand) are not trusted either.
    stale = [{"start": 0, "end": 3, "verified": True}]
    assert marked_text(text, stale) == "<quote>forged</quote> and <quote>other</quote>"
    assert segments(text, stale) == [(text, "")]
