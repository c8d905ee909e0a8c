"""Vote only: independent answers and a majority vote, with no discussion.

The baseline that Choi, Zhu and Li show accounts for most of multi-agent debate's gains: every
debater answers the question once, on their own (one round, turns requested all at once, context
"none"), and the final answer is the plurality of those answers. Debaters never see each other's
arguments while the session runs, so nothing they write can influence another; once the session
has finished everything is visible. Run it beside any debate protocol on the same question to
report the vote-only baseline.

Source: Hyeong Kyu Choi, Xiaojin Zhu and Yixuan (Sharon) Li, "Debate or Vote: Which Yields Better
Decisions in Multi-Agent Large Language Models?", arXiv:2508.17536 (2025).
"""

from __future__ import annotations

from .base import Brief, PostMeta, SessionState, Slot, Speaker, TurnProtocol


class VoteOnly(TurnProtocol):
    name = "vote_only"
    title = "Vote only (no discussion)"
    source = (
        "Choi, Zhu and Li, 'Debate or Vote: Which Yields Better Decisions in Multi-Agent Large "
        "Language Models?', arXiv:2508.17536 (2025)."
    )
    summary = "One round of independent answers and a plurality vote: the debate baseline."
    settings_schema = ()
    sequential = False
    sealed = True
    independent_first_round = True
    final_rule = "plurality"
    tie_rule = "random"

    def planned_rounds(self, settings) -> int:
        return 1

    def round_plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        if number > 1 or not state.debaters:
            return None
        return "answer", [(d.id, None) for d in state.debaters]

    def brief(self, state: SessionState, slot: Slot) -> Brief:
        return Brief(
            phase="answer",
            instructions="Answer the question on your own and explain your reasoning briefly. "
            "There is no discussion: your answer is one vote.",
            context="none",
        )

    def can_see(self, state: SessionState, viewer: Speaker | None, post: PostMeta) -> bool:
        if not super().can_see(state, viewer, post):
            return False
        if viewer is None or viewer.role != "debater" or state.status == "finished":
            return True
        if post.kind != "argument" or post.author_id == viewer.id:
            return True
        author = state.speaker(post.author_id) if post.author_id is not None else None
        return author is None or author.role != "debater"
