"""Simultaneous multi-agent debate (Du et al. 2023).

In round 1 every debater answers the question on their own: the turns are requested all at once,
the prompt holds only the question (context "none") and the round is sealed, so nobody sees
another answer before the round closes. In each later round every debater reads the others'
answers of the rounds so far (context "transcript") and gives an updated answer; that round is
sealed too, so the updates stay independent of each other. ``rounds`` counts every round, the
first included. The final answer is the plurality of the last round's answers, as in the paper's
majority vote over the agents' final answers.

Source: Yilun Du, Shuang Li, Antonio Torralba, Joshua B. Tenenbaum and Igor Mordatch, "Improving
Factuality and Reasoning in Language Models through Multiagent Debate", arXiv:2305.14325 (2023),
ICML 2024.
"""

from __future__ import annotations

from .base import Brief, SessionState, Slot, TurnProtocol
from .common import rounds_setting


class Simultaneous(TurnProtocol):
    name = "simultaneous"
    title = "Simultaneous debate"
    source = (
        "Du, Li, Torralba, Tenenbaum and Mordatch, 'Improving Factuality and Reasoning in "
        "Language Models through Multiagent Debate', arXiv:2305.14325 (2023), ICML 2024."
    )
    summary = (
        "Everyone answers independently, then revises after reading the others' answers, for "
        "a set number of rounds; plurality of the last round."
    )
    settings_schema = (
        rounds_setting(
            3,
            help="Rounds in all, the first (independent answers) included; each debater answers "
            "once per round.",
        ),
    )
    sequential = False
    sealed = True
    independent_first_round = True
    final_rule = "plurality"
    tie_rule = "first"

    def round_plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        if number > state.settings["rounds"] or not state.debaters:
            return None
        return ("answer" if number == 1 else "revise"), [(d.id, None) for d in state.debaters]

    def brief(self, state: SessionState, slot: Slot) -> Brief:
        if state.round <= 1:
            # Du et al.'s first question (mmlu/gen_mmlu.py ``parse_question_answer``).
            return Brief(
                phase="answer",
                instructions="Can you answer the following question as accurately as "
                "possible? Explain your answer.",
                context="none",
            )
        # Du et al.'s round prompt, word for word (``agents.prompts.du_round_message``); the
        # agent's own earlier replies are replayed as its conversation, as in their code.
        return Brief(
            phase="revise",
            instructions="Using the reasoning from other agents as additional advice, can you "
            "give an updated answer? Examine your solution and that other agents step by step.",
            context="others",
        )
