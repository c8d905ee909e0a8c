"""Multi-agent peer review: solve, review each other's solutions with a confidence, revise.

Round 1 ("solve"): every debater solves the question on their own (context "none", sealed).

Round 2 ("review"): every debater reviews every other debater's solution, one turn per ordered
pair (reviewer, target); the review examines the reasoning step by step and gives, as in the
paper and the authors' code (HITsz-TMG/Multi-agent-peer-review, ``peer_review.py``), the
reviewer's confidence in their own feedback on a scale from 1 to 10 (``review_score`` =
``feedback_confidence``, the default). ``review_score = correctness`` instead asks for a
*correctness score* (how likely the target's solution is correct): not the paper's rule, but
what the Bradley-Terry ranking of solutions on the moderator view needs, so that rule is only
computed then. Pairs whose target has no usable solution (failed, unparsed or
abstained in every solve/revise round so far) are left out. All reviews are written at once and
sealed until the round closes.

Round 3 ("revise"): every debater revises their solution in light of the reviews of it (context
"transcript", where the reviews of the round before are visible), sealed.

``cycles`` repeats review + revise (default 1: three rounds in all). In a later cycle, a
debater's solution is their latest usable answer of a solve or revise round. The final answer is
the plurality of the last revise round's answers.

Here each reviewer sees the whole transcript, so also the reviews of other debaters' solutions;
in the paper an agent revises with the feedback on its own solution.

Source: Zhenran Xu, Senbao Shi, Baotian Hu, Jindi Yu, Dongfang Li, Min Zhang and Yuxiang Wu,
"Towards Reasoning in Large Language Models via Multi-Agent Peer Review Collaboration",
arXiv:2311.08152 (2023).
"""

from __future__ import annotations

from .base import MAX_ROUNDS, Brief, SessionState, Setting, Slot, TurnProtocol
from .common import latest_answers

SOLUTION_PHASES = ("solve", "revise")
FEEDBACK_CONFIDENCE = "feedback_confidence"
CORRECTNESS = "correctness"
# The authors' review request (peer_review.py, round 1), after the solution is shown.
PAPER_REVIEW = (
    "Please examine this agent's reasoning process step by step and offer feedback on its "
    "reasoning. You can rate your confidence in your feedback on a scale from 1-10, where 10 "
    "indicates the highest level of confidence."
)


def score_meaning(settings) -> str:
    """What a review's score means in a session (sessions from before the setting: correctness,
    which is what they were asked)."""
    return (settings or {}).get("review_score") or CORRECTNESS


def solutions(state: SessionState) -> dict:
    """Debater id -> their current solution (latest usable answer of a solve/revise round)."""
    return latest_answers(state, SOLUTION_PHASES)


class PeerReview(TurnProtocol):
    name = "peer_review"
    title = "Peer review"
    source = (
        "Xu, Shi, Hu, Yu, Li, Zhang and Wu, 'Towards Reasoning in Large Language Models via "
        "Multi-Agent Peer Review Collaboration', arXiv:2311.08152 (2023)."
    )
    summary = (
        "Solve alone, review every other debater's solution with a 1-10 confidence, revise; "
        "plurality of the last revision."
    )
    settings_schema = (
        Setting(
            "cycles",
            "int",
            1,
            label="Review cycles",
            help="How many times the review and revise rounds follow the first solutions.",
            min=1,
            max=(MAX_ROUNDS - 1) // 2,
        ),
        Setting(
            "review_score",
            "choice",
            FEEDBACK_CONFIDENCE,
            label="What a review's 1-10 score means",
            help="feedback_confidence: the reviewer's confidence in their own feedback (Xu et "
            "al. 2023); correctness: how likely the reviewed solution is correct (not the "
            "paper's; it lets the moderator view rank solutions by Bradley-Terry).",
            choices=(FEEDBACK_CONFIDENCE, CORRECTNESS),
        ),
    )
    sequential = False
    sealed = True
    independent_first_round = True
    final_rule = "plurality"

    def check_participants(self, state: SessionState) -> str | None:
        n = len(state.debaters)
        if n < 2:
            return f"Peer review needs at least two debaters; this session has {n}."
        return None

    def nobody_reason(self, state: SessionState) -> str:
        return self.check_participants(state) or "no debaters"

    def planned_rounds(self, settings):
        return 1 + 2 * int(settings["cycles"])

    def round_plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        debaters = state.debaters
        if number > 1 + 2 * state.settings["cycles"] or self.check_participants(state):
            return None
        if number == 1:
            return "solve", [(d.id, None) for d in debaters]
        if number % 2 == 0:
            solved = solutions(state)
            return "review", [
                (reviewer.id, target.id)
                for reviewer in debaters
                for target in debaters
                if reviewer.id != target.id and target.id in solved
            ]
        return "revise", [(d.id, None) for d in debaters]

    def brief(self, state: SessionState, slot: Slot) -> Brief:
        phase = state.phase
        if phase == "solve" or state.round <= 1:
            return Brief(
                phase="solve",
                instructions="Solve the question on your own, showing your reasoning step by "
                "step, and give your answer. Others will review your solution.",
                context="none",
            )
        if phase == "review":
            if score_meaning(state.settings) == CORRECTNESS:
                text = (
                    "Review the solution of the participant named as your target: check each "
                    "step, point out any error and how to fix it. End with a correctness score "
                    "from 1 (surely wrong) to 10 (surely right) that their solution is correct."
                )
            else:
                text = "Review the solution of the participant named as your target. "
                text += PAPER_REVIEW
            return Brief(
                phase="review",
                instructions=text,
                context="transcript",
                target_id=slot[1],
                answer_kind="review",
                score_means=score_meaning(state.settings),
            )
        return Brief(
            phase="revise",
            instructions="Read the reviews of your solution and their scores. Revise "
            "your solution where the reviews are right, defend it where they are wrong, and "
            "give your final answer.",
            context="transcript",
        )
