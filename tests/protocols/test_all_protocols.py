"""Every registered protocol: registry, settings schema, and whole sessions under stress."""

from __future__ import annotations

import sys

import pytest

from deliberation.protocols.base import (
    COMMON_SETTINGS,
    SETTING_KINDS,
    Brief,
    CloseRound,
    Contribution,
    Finish,
    OpenRound,
    Protocol,
    RoundView,
    SessionState,
    Setting,
    SettingsError,
    Started,
    TurnProtocol,
    ordered_debaters,
    plurality_winner,
    unanimous,
)
from deliberation.protocols.registry import PROTOCOLS, get_protocol, protocol_choices

from .driver import ADA, BABBAGE, CON, DEADLINE, FAIL, FOUR, JUDY, MOD, OBSERVER, PRO, Driver

NAMES = [
    "round_robin",
    "free_debate",
    "simultaneous",
    "round_table",
    "peer_review",
    "socratic",
    "vote_only",
    "judged",
]
# A cast that fits every protocol: two debaters with sides (a person and an agent), a judge.
CAST = (JUDY, CON, MOD, PRO, OBSERVER)

# Rounds of a whole session where everyone answers "yes" with the default settings.
ROUNDS_WHEN_ALL_AGREE = {
    "round_robin": 3,
    "free_debate": 3,
    "simultaneous": 3,
    "round_table": 1,  # unanimous at once
    "peer_review": 3,
    "socratic": 4,  # three rounds and the closing statements
    "vote_only": 1,
    "judged": 3,
}
# ... and when every turn fails or times out: nobody is unanimous, nobody has a solution.
ROUNDS_WHEN_ALL_FAIL = {**ROUNDS_WHEN_ALL_AGREE, "round_table": 3}


def driver(name, **settings) -> Driver:
    return Driver(get_protocol(name), CAST, settings)


# --- registry and schema -----------------------------------------------------------------------
def test_registry_lists_every_protocol_in_order():
    assert list(PROTOCOLS) == NAMES
    assert [name for name, _ in protocol_choices()] == NAMES
    assert all(title for _, title in protocol_choices())
    with pytest.raises(KeyError, match="unknown protocol 'nope'"):
        get_protocol("nope")


@pytest.mark.parametrize("name", NAMES)
def test_each_protocol_describes_itself(name):
    p = get_protocol(name)
    assert isinstance(p, TurnProtocol) and p.name == name
    assert p.title and p.source and p.summary
    assert p.final_rule in ("plurality", "confidence_weighted", "judge", "none")
    assert type(p).__module__ != "deliberation.protocols.base"
    module_doc = sys.modules[type(p).__module__].__doc__ or ""
    assert "Source" in module_doc
    assert "arXiv" in module_doc or name in ("round_robin", "free_debate")
    for setting in p.settings_schema:
        assert setting.label and setting.help, setting.name
        assert setting.kind in SETTING_KINDS
        if setting.kind in ("int", "float"):
            assert setting.min is not None and setting.max is not None, setting.name
    names = [s.name for s in p.all_settings]
    assert len(names) == len(set(names))
    assert p.clean_settings(None) == p.defaults == p.clean_settings(p.defaults)


@pytest.mark.parametrize("name", NAMES)
def test_each_protocol_rejects_unknown_and_badly_typed_settings(name):
    p = get_protocol(name)
    with pytest.raises(SettingsError, match=r"unknown setting.*bogus"):
        p.clean_settings({"bogus": 1})
    for setting in p.settings_schema:
        bad = {
            "int": "many",
            "float": "lots",
            "bool": "perhaps",
            "ids": "a, b",
            "choice": "x",
            "samples": "{not json",
        }[setting.kind]
        with pytest.raises(SettingsError, match=setting.name):
            p.clean_settings({setting.name: bad})
        if setting.kind in ("int", "float"):
            with pytest.raises(SettingsError, match=setting.name):
                p.clean_settings({setting.name: setting.max + 1})
            with pytest.raises(SettingsError, match=setting.name):
                p.clean_settings({setting.name: setting.min - 1})


def test_expected_flags():
    flags = {n: (p.sequential, p.sealed, p.final_rule) for n, p in PROTOCOLS.items()}
    assert flags == {
        "round_robin": (True, False, "plurality"),
        "free_debate": (True, False, "plurality"),
        "simultaneous": (False, True, "plurality"),
        "round_table": (False, True, "confidence_weighted"),
        "peer_review": (False, True, "plurality"),
        "socratic": (True, False, "plurality"),
        "vote_only": (False, True, "plurality"),
        "judged": (True, False, "judge"),
    }
    assert {n for n, p in PROTOCOLS.items() if p.needs_judge} == {"judged"}
    assert {n: p.debater_count for n, p in PROTOCOLS.items() if p.debater_count} == {
        "socratic": 2,
        "judged": 2,
    }


# --- whole sessions ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_whole_session_everyone_answers(name):
    d = driver(name)
    assert d.protocol.check_participants(d.state) is None
    d.start()
    d.run(lambda rnd, slot: 8 if slot[1] is not None else "yes")
    n = ROUNDS_WHEN_ALL_AGREE[name]
    assert [number for number, _ in d.opened] == list(range(1, n + 1))
    assert d.closed == list(range(1, n + 1))
    assert d.state.status == "finished" and d.finish_reason
    # Only debaters and judges are ever asked, and judges only where there is one.
    asked = {pid for _, (pid, _) in d.requests}
    assert asked <= {PRO.id, CON.id, JUDY.id}
    assert (JUDY.id in asked) == (name == "judged")


@pytest.mark.parametrize("name", NAMES)
def test_whole_session_nobody_ever_answers(name):
    d = driver(name)
    d.start()
    d.run(lambda rnd, slot: DEADLINE if slot[0] in (CON.id, JUDY.id) else FAIL)
    assert len(d.opened) == ROUNDS_WHEN_ALL_FAIL[name]
    assert d.finish_reason == f"completed {len(d.opened)} round" + (
        "" if len(d.opened) == 1 else "s"
    )
    assert all(reason == "deadline" for _, _, reason in d.abstentions)


@pytest.mark.parametrize("name", NAMES)
def test_briefs_match_the_round(name):
    d = driver(name)
    d.start()
    seen = 0
    while d.state.status != "finished":
        for slot in d.expected:
            brief = d.protocol.brief(d.state, slot)
            assert isinstance(brief, Brief) and brief.instructions
            assert brief.context in ("transcript", "grouped", "others", "none")
            assert brief.answer_kind in ("answer", "review", "verdict")
            assert brief.target_id == slot[1]
            if brief.answer_kind == "verdict":
                assert brief.phase == "verdict"
            else:
                assert brief.phase == d.state.phase
            seen += 1
        first = d.expected[0]
        d.reply(first, 6 if first[1] else "yes" if first[0] == PRO.id else "no")
    assert seen >= 2


@pytest.mark.parametrize("name", NAMES)
def test_ended_early_pause_and_resume(name):
    d = driver(name)
    first = d.start()
    requested = [a for a in first if not isinstance(a, OpenRound)]
    d.pause()
    assert d.expected == []
    assert d.send(Started()) == []
    assert d.resume() == requested
    assert d.end("stopped") == [CloseRound(1), Finish("stopped")]
    assert d.protocol.handle(d.state, Started()) == []


@pytest.mark.parametrize("name", NAMES)
def test_no_debaters(name):
    d = Driver(get_protocol(name), (MOD, OBSERVER, JUDY))
    (finish,) = d.start()
    assert isinstance(finish, Finish)
    problem = d.protocol.check_participants(d.state)
    assert finish.reason == (problem or "no debaters")
    if d.protocol.debater_count or name == "peer_review":
        assert problem and "debaters" in problem


@pytest.mark.parametrize("name", NAMES)
def test_advancing_through_a_whole_session(name):
    d = driver(name)
    d.start()
    for _ in range(20):
        if d.state.status == "finished":
            break
        d.advance()
    assert d.state.status == "finished"
    assert len(d.opened) == ROUNDS_WHEN_ALL_FAIL[name]


# --- base pieces -------------------------------------------------------------------------------
def test_protocol_base_defaults():
    assert Protocol().check_participants(SessionState("running", {}, FOUR)) is None
    assert [s.name for s in COMMON_SETTINGS] == [
        "turn_seconds",
        "anonymise",
        "revision_nudge",
        "shuffle_options",
        "shuffle_others",
        "agent_opinions",
    ]


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        (Setting("x", "float", 1.0, min=1.0), 0.5, "x must be at least 1"),
        (Setting("x", "int", 1, max=5), 6, "x must be at most 5"),
        (Setting("x", "int", 1, min=1, max=5), 0, "x must be between 1 and 5"),
        (Setting("x", "float", 1.0), float("inf"), "x must be a finite number"),
        (Setting("x", "choice", "a", choices=("a", "b")), "c", "x must be one of a, b"),
        (Setting("x", "ids", []), [3, 3], "x lists a participant twice"),
    ],
)
def test_setting_errors(setting, value, message):
    with pytest.raises(SettingsError, match=message):
        setting.clean(value)


def test_setting_accepts():
    assert Setting("x", "float", 1.0, min=1.0).clean("2.5") == 2.5
    assert Setting("x", "bool", False).clean("yes") is True
    assert Setting("x", "choice", "a", choices=("a", "b")).clean("b") == "b"
    assert Setting("x", "int", 7).clean("") == 7


def test_vote_helpers():
    assert plurality_winner({1: "a", 2: "a", 3: "b"}) == "a"
    assert plurality_winner({1: "a", 2: "b"}) is None
    assert plurality_winner({}) is None
    assert unanimous({1: "a", 2: "a"}, 2)
    assert not unanimous({1: "a"}, 2)
    assert not unanimous({}, 0)


def test_round_view_separates_answers_from_reviews():
    rnd = RoundView(
        2,
        "review",
        (
            Contribution(1, None, "answered", "x", 0.4),
            Contribution(1, 2, "answered", 7),
            Contribution(2, None, "failed"),
            Contribution(3, None, "answered", "y"),
            Contribution(3, None, "answered", "z", 0.9),
        ),
    )
    assert rnd.answers() == {1: "x", 3: "z"}
    assert rnd.answers(targeted=True) == {1: 7}
    assert rnd.confidences() == {1: 0.4, 3: 0.9}


def test_ordered_debaters():
    state = SessionState("running", {"order": [BABBAGE.id, MOD.id]}, FOUR)
    assert [s.id for s in ordered_debaters(state)][:2] == [BABBAGE.id, ADA.id]
