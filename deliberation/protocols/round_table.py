"""Round-table conference with confidences (ReConcile, Chen et al.).

Every answer carries a confidence. In round 1 each debater answers alone (context "none"); the
round is sealed. In each later round the prompt groups the previous round's answers, with their
explanations and confidences ("k participants answered X ..."; context "grouped"), and each
debater gives an updated answer, explanation and confidence; those rounds are sealed too.

Two rules keep the conference short:

* A debater who already agrees with everyone (their latest usable answer equals the latest
  usable answer of every other debater who has one) has nothing to reconsider and sits the round
  out (no slot). Their latest answer still counts.
* The session stops as soon as the debaters are unanimous (every debater has a usable answer,
  counting each one's latest, and all are the same), or after ``rounds`` rounds.

The final answer is the confidence-weighted vote of ReConcile over each debater's latest answer;
the recalibration of the raw confidences is applied by ``deliberation.consensus``.

Source: Justin Chih-Yao Chen, Swarnadeep Saha and Mohit Bansal, "ReConcile: Round-Table
Conference Improves Reasoning via Consensus among Diverse LLMs", arXiv:2309.13007 (2023),
ACL 2024.
"""

from __future__ import annotations

from .base import Brief, SessionState, Setting, Slot, TurnProtocol, unanimous
from .common import latest_answers, rounds_setting


def agrees_with_everyone(state: SessionState, participant_id: int) -> bool:
    """Whether this debater's latest usable answer equals every other debater's latest one."""
    latest = latest_answers(state)
    if participant_id not in latest:
        return False
    mine = latest[participant_id]
    return all(answer == mine for pid, answer in latest.items() if pid != participant_id)


class RoundTable(TurnProtocol):
    name = "round_table"
    title = "Round table (ReConcile)"
    source = (
        "Chen, Saha and Bansal, 'ReConcile: Round-Table Conference Improves Reasoning via "
        "Consensus among Diverse LLMs', arXiv:2309.13007 (2023), ACL 2024."
    )
    summary = (
        "Answers with confidences; later rounds show grouped answers; stops on unanimity; "
        "confidence-weighted vote."
    )
    settings_schema = (
        rounds_setting(
            3,
            help="The most rounds, the first (independent answers) included; the session stops "
            "earlier once everyone agrees.",
        ),
        Setting(
            "convincing_samples",
            "samples",
            [],
            label="Convincing samples",
            help='ReConcile\'s demonstrations, one JSON object per line: {"question", '
            '"answer", "explanation", "source"}. Every agent sees them before the question, '
            "except its own (source = its profile name).",
        ),
    )
    sequential = False
    sealed = True
    independent_first_round = True
    final_rule = "confidence_weighted"
    tie_rule = "first"

    def round_plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        if number > state.settings["rounds"] or not state.debaters:
            return None
        if number == 1:
            return "answer", [(d.id, None) for d in state.debaters]
        return "discussion", [
            (d.id, None) for d in state.debaters if not agrees_with_everyone(state, d.id)
        ]

    def stop_reason(self, state: SessionState) -> str | None:
        if unanimous(latest_answers(state), len(state.debaters)):
            n = state.round
            return f"consensus: every debater gives the same answer after round {n}"
        return None

    def brief(self, state: SessionState, slot: Slot) -> Brief:
        if state.round <= 1:
            return Brief(
                phase="answer",
                # ReConcile's first prompt (utils.py ``prepare_context_for_chat_assistant``).
                instructions="Please answer the question with step-by-step reasoning. Also, "
                "evaluate your confidence level (between 0.0 and 1.0) to indicate the "
                "possibility of your answer being right.",
                context="none",
            )
        return Brief(
            phase="discussion",
            # ReConcile's discussion instruction, word for word (generation.py ``*_debate``);
            # agents then read the top-two answer groups (``agents.prompts.render_groups``).
            instructions="Carefully review the following solutions from other agents as "
            "additional information, and provide your own answer and step-by-step reasoning to "
            "the question. Clearly states that which pointview do you agree or disagree and why.",
            context="grouped",
        )
