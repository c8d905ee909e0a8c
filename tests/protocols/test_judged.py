"""Judged debate: two assigned answers, an anonymous-reading judge's verdicts, hidden verdicts."""

from __future__ import annotations

import pytest

from deliberation.protocols.base import (
    CloseRound,
    Finish,
    OpenRound,
    PostMeta,
    RecordAbstention,
    RequestTurn,
    SettingsError,
    Speaker,
)
from deliberation.protocols.judged import Judged

from .driver import ADA, CON, DEADLINE, FAIL, HAL, JUDY, MOD, OBSERVER, PRO, Driver, slots

CAST = (JUDY, CON, MOD, PRO, OBSERVER)


def judged(cast=CAST, **settings) -> Driver:
    return Driver(Judged(), cast, settings)


def test_debaters_in_turn_and_the_judge_only_at_the_end():
    d = judged()
    assert d.start() == [OpenRound(1, "debate"), RequestTurn(PRO.id)]
    assert d.answer(PRO.id, "yes") == [RequestTurn(CON.id)]
    assert d.answer(CON.id, "no") == [CloseRound(1), OpenRound(2, "debate"), RequestTurn(PRO.id)]
    d.answer(PRO.id, "yes")
    d.answer(CON.id, "no")
    d.answer(PRO.id, "yes")
    assert d.answer(CON.id, "no") == [RequestTurn(JUDY.id)]
    assert d.answer(JUDY.id, "yes") == [CloseRound(3), Finish("completed 3 rounds")]
    assert d.asked_in(1) == d.asked_in(2) == slots(PRO, CON)
    assert d.asked_in(3) == slots(PRO, CON, JUDY)


def test_judge_every_round():
    d = judged(judge_every_round=True, rounds=2)
    d.start()
    d.run()
    assert d.asked_in(1) == d.asked_in(2) == slots(PRO, CON, JUDY)


def test_several_judges_each_give_a_verdict_in_joining_order():
    d = judged(cast=(HAL, *CAST), rounds=1)
    d.start()
    d.run()
    assert d.asked_in(1) == slots(PRO, CON, JUDY, HAL)


def test_a_judge_who_never_answers_abstains_and_the_session_ends():
    d = judged(rounds=1)
    d.start()
    d.answer(PRO.id)
    d.fail(CON.id)
    assert d.deadline(JUDY.id) == [
        RecordAbstention(JUDY.id, reason="deadline"),
        CloseRound(1),
        Finish("completed 1 round"),
    ]


def test_ending_early_leaves_no_verdict():
    d = judged()
    d.start()
    d.answer(PRO.id)
    d.answer(CON.id)
    assert d.end() == [CloseRound(2), Finish("ended by the moderator")]
    assert JUDY.id not in {pid for _, (pid, _) in d.requests}


def test_advancing_the_last_round_skips_the_judge():
    d = judged(rounds=1)
    d.start()
    d.answer(PRO.id)
    assert d.advance() == [CloseRound(1), Finish("completed 1 round")]


def test_pause_and_resume_the_judges_turn():
    d = judged(rounds=1)
    d.start()
    d.answer(PRO.id)
    d.answer(CON.id)
    d.pause()
    assert d.expected == []
    assert d.resume() == [RequestTurn(JUDY.id)]
    d.run(lambda rnd, slot: DEADLINE if slot[0] == JUDY.id else FAIL)
    assert d.finish_reason == "completed 1 round"


def test_briefs():
    d = judged(judge_every_round=True, rounds=2)
    d.start()
    pro = d.protocol.brief(d.state, (PRO.id, None))
    assert (pro.phase, pro.assigned, pro.context, pro.answer_kind) == (
        "debate",
        "yes",
        "transcript",
        "answer",
    )
    assert "opening" in pro.instructions
    assert d.protocol.brief(d.state, (CON.id, None)).assigned == "no"
    verdict = d.protocol.brief(d.state, (JUDY.id, None))
    assert (verdict.phase, verdict.answer_kind, verdict.assigned) == ("verdict", "verdict", None)
    assert "\u201cyes\u201d and \u201cno\u201d" in verdict.instructions
    assert "probability" in verdict.instructions
    assert "interim verdict after round 1 of 2" in verdict.instructions
    d.advance()
    assert "Rebut" in d.protocol.brief(d.state, (PRO.id, None)).instructions
    assert "final verdict" in d.protocol.brief(d.state, (JUDY.id, None)).instructions


def test_verdicts_are_hidden_from_debaters_and_other_judges_until_the_end():
    d = judged(cast=(HAL, *CAST), rounds=1)
    d.start()
    d.answer(PRO.id)
    d.answer(CON.id)
    d.answer(JUDY.id, "yes")
    see = d.protocol.can_see
    verdict = PostMeta(round=1, author_id=JUDY.id, kind="argument")
    assert not see(d.state, PRO, verdict) and not see(d.state, CON, verdict)
    assert not see(d.state, HAL, verdict)
    assert not see(d.state, PRO, PostMeta(round=1, author_id=JUDY.id, kind="note"))
    assert see(d.state, JUDY, verdict) and see(d.state, MOD, verdict)
    assert see(d.state, OBSERVER, verdict) and see(d.state, None, verdict)
    # The debate itself is open to everyone, the judges included.
    argument = PostMeta(round=1, author_id=PRO.id, kind="argument")
    assert see(d.state, CON, argument) and see(d.state, JUDY, argument)
    d.answer(HAL.id, "no")
    assert d.state.status == "finished"
    assert see(d.state, PRO, verdict) and see(d.state, HAL, verdict)


def test_verdicts_of_earlier_rounds_stay_hidden_while_running():
    d = judged(judge_every_round=True, rounds=2)
    d.start()
    d.answer(PRO.id)
    d.answer(CON.id)
    d.answer(JUDY.id, "yes")
    assert d.state.round == 2
    assert not d.protocol.can_see(
        d.state, PRO, PostMeta(round=1, author_id=JUDY.id, kind="argument")
    )


def test_class_flags():
    p = Judged()
    assert (p.needs_judge, p.debater_count, p.anonymous_to_judge, p.final_rule) == (
        True,
        2,
        True,
        "judge",
    )
    assert p.sequential and not p.sealed


def test_check_participants_messages():
    no_judge = judged(cast=(PRO, CON, MOD))
    msg = "A judged debate needs a judge: add a participant with the role judge."
    assert no_judge.protocol.check_participants(no_judge.state) == msg
    assert no_judge.start() == [Finish(msg)]
    three = judged(cast=(PRO, CON, ADA, JUDY))
    assert three.protocol.check_participants(three.state) == (
        "A judged debate needs exactly two debaters; this session has 3."
    )
    same = judged(
        cast=(PRO, JUDY, Speaker(id=30, kind="agent", role="debater", position=4, side="yes"))
    )
    assert "different positions" in same.protocol.check_participants(same.state)
    assert judged().protocol.check_participants(judged().state) is None


@pytest.mark.parametrize(
    "raw", [{"judge_every_round": "sometimes"}, {"rounds": 0}, {"contentiousness": 0.5}]
)
def test_settings_validation(raw):
    with pytest.raises(SettingsError):
        Judged().clean_settings(raw)


def test_a_tie_of_judges_has_no_answer_by_default_as_in_the_source():
    # Khan et al. count a tied vote of judgements as not correct (correct_true > correct_false).
    assert Judged().defaults["tie_break"] == "none"
