"""The default prompts are the sources' own: ReConcile's discussion prompt and Du et al.'s round
prompt, re-derived here from the authors' code (dinobby/ReConcile ``utils.parse_output``;
composable-models/llm_multiagent_debate ``mmlu/gen_mmlu.py`` ``construct_message``)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest

from deliberation.agents.prompts import (
    DU_PREFIX,
    DU_SUFFIX,
    REVISION_NUDGE,
    build_messages,
    du_round_message,
    render_groups,
)
from deliberation.agents.services import _groups
from deliberation.protocols.base import Brief


def reconcile_debate_prompt(votes, explanations):
    """The authors' ``parse_output`` (their exps read "I think the answer is X because R My
    confidence level is C.")."""
    prompt = ""
    vote = Counter(votes).most_common(2)
    for answer, count in vote:
        prompt += f"There are {count} agents think the answer is {answer}. "
        group = [e for v, e in zip(votes, explanations, strict=True) if v == answer]
        prompt += "\n".join("One agent solution: " + g for g in group) + "\n\n"
    return prompt


def test_reconcile_groups_are_the_top_two_in_the_authors_words():
    # Agents in position order answer B, A, C, A, B: three groups; the top two are B and A
    # (2 each; B appears first), C is left out, as ``most_common(2)`` leaves it out.
    answers = ["B", "A", "C", "A", "B"]
    confidences = [0.9, 0.7, 1.0, 0.85, 0.6]
    latest = {
        pid: {
            "answer": a,
            "text": f"reason {pid}.",
            "confidence": c,
            "author": {"id": pid},
        }
        for pid, (a, c) in zip(
            [15, 11, 12, 13, 14], zip(answers, confidences, strict=True), strict=True
        )
    }
    position = {15: 1, 11: 2, 12: 3, 13: 4, 14: 5}  # ids differ from the speaking order
    session = SimpleNamespace(answer_format="free_text", tolerance=0.0)
    groups = _groups(latest, session, None, position)
    ours = render_groups(groups, "free_text")
    ordered = sorted(latest.values(), key=lambda p: position[p["author"]["id"]])
    votes = [p["answer"] for p in ordered]
    exps = [
        f"I think the answer is {p['answer']} because {p['text']} My confidence level is "
        f"{p['confidence']:g}."
        for p in ordered
    ]
    assert ours == reconcile_debate_prompt(votes, exps).rstrip("\n")
    assert "C" not in [g.answer for g in groups]


def test_du_round_message_is_the_authors_construct_message():
    others = ["First solution (A)", "Second solution (B)"]
    prefix = "These are the solutions to the problem from other agents: "
    for response in others:
        prefix += f"\n\n One agent solution: ```{response}```"
    prefix += (
        "\n\n Using the reasoning from other agents as additional advice, can you give an "
        "updated answer? Examine your solution and that other agents step by step."
    )
    assert du_round_message(others) == prefix
    assert prefix.startswith(DU_PREFIX) and prefix.endswith(DU_SUFFIX)


def test_the_change_your_mind_clause_only_with_its_setting():
    def system(nudge: bool) -> str:
        return build_messages(
            persona="",
            agent_name="Ada",
            question="Q?",
            answer_format="single_choice",
            options=["Yes", "No"],
            round_number=1,
            rounds_total=2,
            brief=Brief(phase="answer", context="none"),
            format_instructions="End with ANSWER.",
            revision_nudge=nudge,
        )[0]["content"]

    assert REVISION_NUDGE not in system(False)
    assert REVISION_NUDGE in system(True)


@pytest.mark.django_db(transaction=True)
def test_reconcile_convincing_samples_come_first_and_never_an_agents_own(
    moderator, simulated_agent
):
    """ReConcile's run.py gives each model the other models' convincing samples as
    "Q: ..." / answer turns before the question."""
    from deliberation.agents.models import AgentTurn
    from deliberation.agents.services import run_locally
    from deliberation.debates import controls, services
    from deliberation.protocols.base import SettingsError
    from deliberation.protocols.registry import get_protocol

    samples = [
        {
            "question": "Is ice cold?",
            "answer": "Yes",
            "explanation": "It is frozen.",
            "source": "Ada",
        },
        {"question": "Is fire cold?", "answer": "No", "explanation": "It burns.", "source": "Bo"},
    ]
    session = services.create_session(
        moderator=moderator,
        title="Samples",
        question="Is snow cold?",
        options=["Yes", "No"],
        protocol="round_table",
        protocol_settings={"rounds": 1, "convincing_samples": samples},
        agent_profiles=[simulated_agent("Ada", seed=1), simulated_agent("Bo", seed=2)],
    )
    run_locally(lambda: controls.control(session.participants.get(role="moderator"), "start"))
    for turn in AgentTurn.objects.filter(session=session).select_related("participant"):
        prompt = turn.prompt
        assert len(prompt) > 3, [m["role"] for m in prompt]
        own = "Is ice cold?" if turn.participant.display_name == "Ada" else "Is fire cold?"
        other = "Is fire cold?" if own == "Is ice cold?" else "Is ice cold?"
        assert prompt[1] == {"role": "user", "content": f"Q: {other}"}
        assert prompt[2]["role"] == "assistant" and prompt[2]["content"].startswith("It ")
        assert all(own not in m["content"] for m in prompt)
        assert "Is snow cold?" in prompt[-1]["content"]
    # JSON lines from the form; bad rows named.
    protocol = get_protocol("round_table")
    text = '{"question": "Q1", "answer": "A", "explanation": "E"}\n'
    assert protocol.clean_settings({"convincing_samples": text})["convincing_samples"] == [
        {"question": "Q1", "answer": "A", "explanation": "E"}
    ]
    with pytest.raises(SettingsError, match="line 1"):
        protocol.clean_settings({"convincing_samples": "not json"})
    with pytest.raises(SettingsError, match="sample 1 needs a text 'explanation'"):
        protocol.clean_settings({"convincing_samples": [{"question": "Q", "answer": "A"}]})
