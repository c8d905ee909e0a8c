"""Judged debate: two debaters defend assigned answers; a judge gives a probability to each.

Two debaters each defend an assigned answer (``Speaker.side``: the moderator's choice, else the
engine gives the question's first option to the first debater and the second to the second).
They argue in turn for ``rounds`` rounds (the first debater first, each seeing the debate so
far). A judge (a participant with the role "judge", a person or an agent) reads the debate
without knowing who the debaters are (``anonymous_to_judge``: the engine shows judges aliases)
and gives a verdict: the probability that each answer is correct. The judge speaks after the
second debater of the last round, or after every round with ``judge_every_round`` (interim
verdicts). With several judges, each gives a
verdict, in joining order.

Information asymmetry: a session may carry a *passage* (the authors' "story"), the source text
the question is about. Debaters see it and quote it in ``<quote>...</quote>`` tags; judges never
see it (not in their prompt, page, socket or API) until the session has finished. Each
debater's quotes are checked against the passage when the post is stored and shown to everyone
as verified (``<v_quote>``) or unverified (``<u_quote>``), with the authors' matching rule
(``deliberation.protocols.quotes``).

Debaters cannot see the verdicts until the session has finished, so they cannot argue to the
judge's interim reading; judges do not see each other's verdicts either. The final answer is
the judges': each judge's final verdict (interim verdicts do not count) is one vote for the
answer they find more likely, and the answer with more votes wins, a plurality by
``deliberation.consensus`` as the authors take the majority of several judgements
(``debates.outcomes._judge_rule``). A tie gives no answer by default (``tie_rule = "none"``: the
authors count a tied vote as not correct).

Sources: Akbir Khan, John Hughes, Dan Valentine, Laura Ruis, Kshitij Sachan, Ansh Radhakrishnan,
Edward Grefenstette, Samuel R. Bowman, Tim Rocktäschel and Ethan Perez, "Debating with More
Persuasive LLMs Leads to More Truthful Answers", arXiv:2402.06782, ICML 2024; Julian Michael,
Salsabila Mahdi, David Rein, Jackson Petty, Julien Dirani, Vishakh Padmakumar and Samuel R.
Bowman, "Debate Helps Supervise Unreliable Experts", arXiv:2311.08702 (2023).
"""

from __future__ import annotations

from typing import ClassVar

from .base import MAX_ROUNDS, Brief, PostMeta, SessionState, Setting, Slot, Speaker, TurnProtocol
from .common import quoted, two_debaters_problem


class Judged(TurnProtocol):
    name = "judged"
    title = "Judged debate"
    source = (
        "Khan et al., 'Debating with More Persuasive LLMs Leads to More Truthful Answers', "
        "arXiv:2402.06782, ICML 2024; Michael et al., 'Debate Helps Supervise Unreliable "
        "Experts', arXiv:2311.08702 (2023)."
    )
    summary = (
        "Two debaters defend assigned answers; an anonymous-reading judge gives each answer a "
        "probability."
    )
    settings_schema = (
        Setting(
            "rounds",
            "int",
            3,
            label="Rounds",
            help="Debate rounds; each debater speaks once per round.",
            min=1,
            max=MAX_ROUNDS,
        ),
        Setting(
            "judge_every_round",
            "bool",
            False,
            label="Judge after every round",
            help="The judge gives an interim verdict after each round, not only at the end.",
        ),
    )
    sequential = True
    sealed = False
    final_rule = "judge"
    # Khan et al. score a tie of judges' votes as not correct (correct_true > correct_false).
    tie_rule = "none"
    needs_judge = True
    debater_count = 2
    anonymous_to_judge: ClassVar[bool] = True

    def check_participants(self, state: SessionState) -> str | None:
        problem = two_debaters_problem(state, "A judged debate")
        if problem:
            return problem
        if not state.judges:
            return "A judged debate needs a judge: add a participant with the role judge."
        return None

    def nobody_reason(self, state: SessionState) -> str:
        return self.check_participants(state) or "no debaters"

    def judges_round(self, state: SessionState, number: int) -> bool:
        return bool(state.settings["judge_every_round"]) or number == state.settings["rounds"]

    def round_plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        if self.check_participants(state) or number > state.settings["rounds"]:
            return None
        slots: list[Slot] = [(d.id, None) for d in state.debaters]
        if self.judges_round(state, number):
            slots += [(j.id, None) for j in state.judges]
        return "debate", slots

    def brief(self, state: SessionState, slot: Slot) -> Brief:
        speaker = state.speaker(slot[0])
        total = state.settings["rounds"]
        if speaker is not None and speaker.role == "judge":
            answers = " and ".join(quoted(d.side) for d in state.debaters if d.side) or (
                "their assigned answers"
            )
            when = (
                "This is your final verdict."
                if state.round >= total
                else f"This is an interim verdict after round {state.round} of {total}."
            )
            return Brief(
                phase="verdict",
                instructions=f"You are the judge. Two debaters, whose identities are hidden, "
                f"defend {answers}. Judge by the arguments and the evidence they quote, not by "
                f"confidence or style. Give the probability that each answer is correct "
                f"(the probabilities add up to 1) and explain briefly. {when}",
                context="transcript",
                answer_kind="verdict",
            )
        side = speaker.side if speaker is not None else None
        defend = f"Defend the answer {quoted(side)}" if side else "Defend your assigned answer"
        task = (
            "Give your opening argument."
            if state.round <= 1
            else "Rebut your opponent's latest argument and strengthen your case."
        )
        return Brief(
            phase="debate",
            instructions=f"{defend} before a judge who will decide which answer is correct;"
            f" your opponent defends the other answer. {task} Quote "
            "your evidence precisely; the judge does not know who you are.",
            context="transcript",
            assigned=side,
        )

    def can_see(self, state: SessionState, viewer: Speaker | None, post: PostMeta) -> bool:
        if not super().can_see(state, viewer, post):
            return False
        if viewer is None or state.status == "finished" or viewer.role not in ("debater", "judge"):
            return True
        if post.author_id == viewer.id or post.kind not in ("argument", "note"):
            return True
        author = state.speaker(post.author_id) if post.author_id is not None else None
        return author is None or author.role != "judge"
