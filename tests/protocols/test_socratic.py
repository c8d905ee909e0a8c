"""SocraSynth: two opposed stances, a live contentiousness that decays, closing statements."""

from __future__ import annotations

import pytest

from deliberation.protocols.base import (
    CloseRound,
    Finish,
    OpenRound,
    RecordAbstention,
    RequestTurn,
    SettingsError,
    Speaker,
)
from deliberation.protocols.socratic import Socratic, tone

from .driver import ADA, BABBAGE, BOB, CON, DEADLINE, FAIL, MOD, PRO, TWO, Driver, slots


def socratic(cast=TWO, **settings) -> Driver:
    return Driver(Socratic(), cast, settings)


def test_two_debaters_alternate_then_give_closing_statements():
    d = socratic()
    assert d.start() == [OpenRound(1, "argument"), RequestTurn(PRO.id)]  # position 1 first
    assert d.answer(PRO.id, "yes") == [RequestTurn(CON.id)]
    d.run(lambda rnd, slot: "yes" if slot[0] == PRO.id else "no")
    assert d.phases == ["argument", "argument", "argument", "closing"]
    for number in (1, 2, 3, 4):
        assert d.asked_in(number) == slots(PRO, CON)
    assert d.finish_reason == "completed 4 rounds"


def test_without_closing_the_session_ends_after_the_rounds():
    d = socratic(rounds=2, closing=False)
    d.start()
    d.run()
    assert d.phases == ["argument", "argument"]
    assert d.actions[-2:] == [CloseRound(2), Finish("completed 2 rounds")]


def test_contentiousness_decays_each_round_and_is_zero_when_closing():
    d = socratic()
    p = d.protocol
    d.start()
    assert [p.contentiousness(d.state, n) for n in (1, 2, 3, 4)] == [0.9, 0.75, 0.625, 0.0]
    levels = []
    while d.state.status != "finished":
        levels.append(p.brief(d.state, d.expected[0]).instructions)
        d.answer(d.expected[0][0])
    assert "Contentiousness 0.90 (highly confrontational)" in levels[0]
    assert "Contentiousness 0.75 (assertive)" in levels[2]
    assert "Contentiousness 0.62 (assertive)" in levels[4]  # 0.625 shown with two decimals
    assert "conciliatory" in levels[6] and "Closing statement" in levels[6]


def test_decay_one_keeps_the_level():
    d = socratic(decay=1, contentiousness=0.5)
    d.start()
    assert [d.protocol.contentiousness(d.state, n) for n in (1, 2, 3)] == [0.5, 0.5, 0.5]


def test_the_moderator_changes_contentiousness_live():
    d = socratic()
    d.start()
    d.answer(PRO.id)
    d.answer(CON.id)
    assert d.change(contentiousness=0.3) == [RequestTurn(PRO.id)]  # same speaker, new tone
    brief = d.protocol.brief(d.state, (PRO.id, None))
    assert "Contentiousness 0.25 (cooperative)" in brief.instructions  # 0.3 / 1.2
    assert d.protocol.settings_schema[0].live


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (1.0, "highly confrontational"),
        (0.9, "highly confrontational"),
        (0.7, "assertive"),
        (0.5, "balanced"),
        (0.3, "cooperative"),
        (0.1, "conciliatory"),
        (0.0, "conciliatory"),
    ],
)
def test_tone_table(level, name):
    assert tone(level)[0] == name


def test_brief_carries_the_assigned_stance():
    d = socratic()
    d.start()
    pro = d.protocol.brief(d.state, (PRO.id, None))
    con = d.protocol.brief(d.state, (CON.id, None))
    assert (pro.assigned, con.assigned) == ("yes", "no")
    assert (pro.phase, pro.context, pro.answer_kind) == ("argument", "transcript", "answer")
    assert "\u201cyes\u201d" in pro.instructions


def test_without_sides_the_first_argues_for_and_the_second_against():
    first = Speaker(id=1, kind="agent", role="debater", position=1)
    second = Speaker(id=2, kind="agent", role="debater", position=2)
    d = socratic(cast=(second, first))
    d.start()
    assert d.protocol.brief(d.state, (1, None)).assigned == "for the proposition"
    assert d.protocol.brief(d.state, (2, None)).assigned == "against the proposition"


def test_a_person_who_never_answers_abstains_and_the_debate_goes_on():
    d = socratic(rounds=2, closing=False)
    d.start()
    d.run(lambda rnd, slot: DEADLINE if slot[0] == CON.id else FAIL)
    assert d.abstentions == [(1, (CON.id, None), "deadline"), (2, (CON.id, None), "deadline")]
    assert d.finish_reason == "completed 2 rounds"


def test_skip_and_advance_and_end():
    d = socratic()
    d.start()
    assert d.skip(PRO.id) == [RecordAbstention(PRO.id, reason="skipped"), RequestTurn(CON.id)]
    assert d.advance() == [CloseRound(1), OpenRound(2, "argument"), RequestTurn(PRO.id)]
    d.pause()
    assert d.late_answer(PRO.id) == []
    assert d.resume() == [RequestTurn(CON.id)]
    assert d.end("agreement reached") == [CloseRound(2), Finish("agreement reached")]


def test_check_participants():
    three = (PRO, CON, ADA, MOD)
    msg = "SocraSynth needs exactly two debaters; this session has 3."
    assert socratic(cast=three).protocol.check_participants(socratic(cast=three).state) == msg
    assert socratic(cast=three).start() == [Finish(msg)]
    same = (
        Speaker(id=1, kind="agent", role="debater", position=1, side="yes"),
        Speaker(id=2, kind="human", role="debater", position=2, side="yes"),
    )
    d = socratic(cast=same)
    assert d.protocol.check_participants(d.state) == (
        "SocraSynth needs the two debaters to defend different positions; both are assigned "
        "\u201cyes\u201d."
    )
    assert (
        socratic(cast=(BABBAGE, BOB)).protocol.check_participants(
            socratic(cast=(BABBAGE, BOB)).state
        )
        is None
    )
    assert socratic().protocol.check_participants(socratic().state) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"contentiousness": 1.5}, "contentiousness must be between 0 and 1"),
        ({"contentiousness": -0.1}, "contentiousness must be between 0 and 1"),
        ({"contentiousness": "high"}, "contentiousness must be a number"),
        ({"contentiousness": float("nan")}, "contentiousness must be a finite number"),
        ({"decay": 0.5}, "decay must be between 1 and 10"),
        ({"decay": True}, "decay must be a number"),
        ({"rounds": 50}, "rounds must be between 1 and 49"),
        ({"closing": "maybe"}, "closing must be true or false"),
        ({"order": [1, 2]}, "unknown setting"),
    ],
)
def test_settings_validation(raw, message):
    with pytest.raises(SettingsError, match=message):
        Socratic().clean_settings(raw)


def test_settings_accept_text_from_the_form():
    cleaned = Socratic().clean_settings({"contentiousness": "0.7", "decay": "1", "closing": "off"})
    assert (cleaned["contentiousness"], cleaned["decay"], cleaned["closing"]) == (0.7, 1.0, False)
