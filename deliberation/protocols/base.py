"""The protocol contract: a pure state machine over plain data.

A protocol receives the session's state (a :class:`SessionState` snapshot built from stored rows)
and an event, and returns the actions the engine must carry out. It does no I/O, so every protocol
can be driven through whole sessions in unit tests without a database or a server. The engine
(``deliberation.debates.engine``) turns rows into a state, calls the protocol, and applies the
actions in the same transaction.

Vocabulary:

* A **round** is one step of the protocol in which a set of **slots** is expected. A slot is
  ``(participant_id, target_id)``: the participant speaks once, about ``target_id`` when the
  protocol asks for it (a peer review of that participant's solution), else ``target_id`` is None.
* Each round has a **phase** label (``"answer"``, ``"review"``, ``"closing"``, ...) that prompts
  and pages show.
* A slot is *done* once it has a contribution: a post, a failed or cancelled agent turn, an
  abstention (a person's deadline passed) or a moderator's skip.

Actions are idempotent by design: asking for a turn that is already requested is a no-op, so a
protocol may simply say "this is what should be happening now" after every event.

Most protocols subclass :class:`TurnProtocol`, which implements the event handling once and asks
the subclass only for what differs: the slots of each round, whether they speak one after
another or all at once, when to stop, and what each participant may see.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

Slot = tuple[int, int | None]  # (participant id, target participant id or None)


# --- state -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Speaker:
    id: int
    kind: str  # "human" or "agent"
    role: str  # "moderator", "debater", "judge" or "observer"
    position: int
    # An assigned stance or answer (Socratic sides, judged-debate positions), else None.
    side: str | None = None


@dataclass(frozen=True)
class Contribution:
    """What happened in one slot of a round."""

    participant_id: int
    target_id: int | None = None
    # "answered" (a usable answer), "no_answer" (posted without one), "unparsed" (an agent's
    # answer could not be read even after a repair prompt), "abstained" (deadline passed),
    # "skipped" (by the moderator), "failed" (the agent turn failed or was cancelled).
    status: str = "answered"
    answer: Hashable | None = None  # a hashable key (lists become tuples), None unless answered
    confidence: float | None = None

    @property
    def slot(self) -> Slot:
        return (self.participant_id, self.target_id)


@dataclass(frozen=True)
class RoundView:
    number: int
    phase: str = ""
    contributions: tuple[Contribution, ...] = ()
    open: bool = True

    def answers(self, *, targeted: bool = False) -> dict[int, Hashable]:
        """Participant -> usable answer in this round (the last one if several)."""
        return {
            c.participant_id: c.answer
            for c in self.contributions
            if c.status == "answered" and (c.target_id is not None) == targeted
        }

    def confidences(self) -> dict[int, float | None]:
        return {
            c.participant_id: c.confidence
            for c in self.contributions
            if c.status == "answered" and c.target_id is None
        }


@dataclass(frozen=True)
class SessionState:
    status: str  # draft, running, paused, finished
    settings: Mapping[str, Any]
    participants: Sequence[Speaker]
    rounds: tuple[RoundView, ...] = ()  # every round so far, in order; the last is current

    @property
    def round(self) -> int:
        """The current round's number, 0 before the first round opens."""
        return self.rounds[-1].number if self.rounds else 0

    @property
    def current(self) -> RoundView | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def previous(self) -> RoundView | None:
        return self.rounds[-2] if len(self.rounds) >= 2 else None

    @property
    def phase(self) -> str:
        return self.rounds[-1].phase if self.rounds else ""

    @property
    def done(self) -> frozenset[Slot]:
        current = self.current
        return frozenset(c.slot for c in current.contributions) if current else frozenset()

    @property
    def debaters(self) -> list[Speaker]:
        return sorted(
            (p for p in self.participants if p.role == "debater"), key=lambda p: (p.position, p.id)
        )

    @property
    def judges(self) -> list[Speaker]:
        return sorted(
            (p for p in self.participants if p.role == "judge"), key=lambda p: (p.position, p.id)
        )

    def speaker(self, participant_id: int) -> Speaker | None:
        return next((p for p in self.participants if p.id == participant_id), None)

    def with_contribution(self, contribution: Contribution) -> SessionState:
        """The state as it will be once ``contribution`` is recorded in the current round."""
        current = self.current
        if current is None:
            return self
        updated = replace(current, contributions=(*current.contributions, contribution))
        return replace(self, rounds=(*self.rounds[:-1], updated))


# --- events ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Started:
    pass


@dataclass(frozen=True)
class Resumed:
    pass


@dataclass(frozen=True)
class PostStored:
    participant_id: int
    target_id: int | None = None


@dataclass(frozen=True)
class TurnFailed:
    participant_id: int
    target_id: int | None = None


@dataclass(frozen=True)
class DeadlinePassed:
    """A person's turn ran out of time: the protocol records an abstention and moves on."""

    participant_id: int
    target_id: int | None = None


@dataclass(frozen=True)
class Skipped:
    """The moderator skipped a participant's pending turn."""

    participant_id: int
    target_id: int | None = None


@dataclass(frozen=True)
class RoundAdvanced:
    """The moderator closes the current round now, whoever has not spoken yet."""


@dataclass(frozen=True)
class SettingsChanged:
    """The moderator changed a live setting (speaking order, contentiousness...)."""


@dataclass(frozen=True)
class Ended:
    reason: str = "ended by the moderator"


Event = (
    Started
    | Resumed
    | PostStored
    | TurnFailed
    | DeadlinePassed
    | Skipped
    | RoundAdvanced
    | SettingsChanged
    | Ended
)


# --- actions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenRound:
    number: int
    phase: str = ""


@dataclass(frozen=True)
class CloseRound:
    number: int


@dataclass(frozen=True)
class RequestTurn:
    """Ask a participant to speak (an agent turn is queued; a person gets a deadline)."""

    participant_id: int
    target_id: int | None = None


@dataclass(frozen=True)
class RecordAbstention:
    """Store that a slot ended without a contribution (``reason``: "deadline" or "skipped")."""

    participant_id: int
    target_id: int | None = None
    reason: str = "deadline"


@dataclass(frozen=True)
class Finish:
    reason: str


Action = OpenRound | CloseRound | RequestTurn | RecordAbstention | Finish


# --- settings ----------------------------------------------------------------------------------
class SettingsError(ValueError):
    """Invalid protocol settings; the message names the setting at fault."""


SETTING_KINDS = ("int", "float", "bool", "choice", "ids", "samples")


@dataclass(frozen=True)
class Setting:
    """One declared setting: type, default, bounds and a help text for the create form.

    ``kind`` is "int", "float", "bool", "choice", "ids" (a list of participant ids, e.g. a
    speaking order; empty means "the default order") or "samples" (demonstrations: a list of
    ``{"question", "answer", "explanation", "source"}`` objects, or the same as JSON lines).
    """

    name: str
    kind: str
    default: Any
    label: str = ""
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    live: bool = False  # the moderator may change it while the session runs

    def clean(self, value: Any) -> Any:
        if value is None or value == "":
            return self.default
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise SettingsError(f"{self.name} must be true or false, not {value!r}")
        if self.kind == "choice":
            if value not in self.choices:
                raise SettingsError(f"{self.name} must be one of {', '.join(self.choices)}")
            return value
        if self.kind == "samples":
            return clean_samples(self.name, value)
        if self.kind == "ids":
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            try:
                ids = [int(v) for v in value]
            except (TypeError, ValueError):
                raise SettingsError(f"{self.name} must be a list of participant ids") from None
            if len(set(ids)) != len(ids):
                raise SettingsError(f"{self.name} lists a participant twice")
            return ids
        if isinstance(value, bool):
            raise SettingsError(f"{self.name} must be a number, not {value!r}")
        try:
            number = int(str(value)) if self.kind == "int" else float(value)
        except (TypeError, ValueError):
            kind = "a whole number" if self.kind == "int" else "a number"
            raise SettingsError(f"{self.name} must be {kind}, not {value!r}") from None
        if self.kind == "float" and not math.isfinite(number):
            raise SettingsError(f"{self.name} must be a finite number")
        if (self.min is not None and number < self.min) or (
            self.max is not None and number > self.max
        ):
            if self.max is None:
                raise SettingsError(f"{self.name} must be at least {self.min:g}")
            if self.min is None:
                raise SettingsError(f"{self.name} must be at most {self.max:g}")
            raise SettingsError(f"{self.name} must be between {self.min:g} and {self.max:g}")
        return number


MAX_SAMPLES = 20
MAX_SAMPLE_CHARS = 4000


def clean_samples(name: str, value: Any) -> list[dict[str, str]]:
    """Demonstrations such as ReConcile's convincing samples: each a question, its answer and
    the explanation that convinced, and optionally ``source``, the agent (profile name) whose
    explanation it is (that agent is not shown its own samples). A list, or JSON lines."""
    import json

    if isinstance(value, str):
        rows = []
        for number, line in enumerate(value.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise SettingsError(f"{name}: line {number} is not a JSON object") from None
        value = rows
    if not isinstance(value, list):
        raise SettingsError(f"{name} must be a list of samples")
    if len(value) > MAX_SAMPLES:
        raise SettingsError(f"{name}: at most {MAX_SAMPLES} samples")
    out = []
    for number, row in enumerate(value, start=1):
        if not isinstance(row, dict):
            raise SettingsError(f"{name}: sample {number} must be an object")
        unknown = set(row) - {"question", "answer", "explanation", "source"}
        if unknown:
            raise SettingsError(f"{name}: sample {number} has unknown key(s) {sorted(unknown)}")
        sample = {}
        for key in ("question", "answer", "explanation", "source"):
            text = row.get(key)
            if text is None and key == "source":
                continue
            if isinstance(text, bool) or not isinstance(text, str | int | float):
                raise SettingsError(f"{name}: sample {number} needs a text '{key}'")
            text = str(text).strip()
            if not text or len(text) > MAX_SAMPLE_CHARS:
                raise SettingsError(
                    f"{name}: sample {number}'s '{key}' must have 1 to {MAX_SAMPLE_CHARS} "
                    "characters"
                )
            sample[key] = text
        out.append(sample)
    return out


MAX_ROUNDS = 50

# Settings every protocol has: people's deadlines and the fairness controls.
COMMON_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "turn_seconds",
        "int",
        180,
        label="Seconds a person has for a turn",
        help="At the deadline the turn is recorded as an abstention and the session moves on.",
        min=10,
        max=24 * 3600,
    ),
    Setting(
        "anonymise",
        "bool",
        False,
        label="Anonymise participants",
        help="Debaters and judges see 'Participant A, B...' with no model names and no "
        "person/agent marker.",
    ),
    Setting(
        "revision_nudge",
        "bool",
        False,
        label="Tell agents to change their mind when convinced",
        help="Adds 'Argue honestly for the answer you believe is correct, and change your mind "
        "when others give better reasons.' to every agent's system prompt. Not in the sources' "
        "prompts, so off by default.",
    ),
    Setting(
        "shuffle_options",
        "bool",
        False,
        label="Shuffle answer options per agent",
        help="Each agent sees the options in its own seeded order (controls position bias).",
    ),
    Setting(
        "shuffle_others",
        "bool",
        False,
        label="Shuffle the order of others' answers",
        help="Others' previous answers are shown to each agent in a seeded random order.",
    ),
    Setting(
        "agent_opinions",
        "bool",
        False,
        label="Ask agents for private opinions (one extra call per agent per round)",
        help="After each round closes, every agent debater is asked, in a separate call that "
        "no one but the moderator sees, which answer it privately holds (as people report "
        "theirs), so public/private divergence is measured for agents too (DEBATE benchmark). "
        "The next round does not wait for these answers. Off by default: it adds cost.",
    ),
)


VOTE_PHASE = "independent vote"
VOTE_PASS = Setting(
    "vote_pass",
    "bool",
    False,
    label="Independent vote first",
    help="Round 1 is a sealed vote in which each debater answers alone; the protocol's rounds "
    "follow. Its plurality is the honest vote-only baseline (Debate-or-Vote).",
)

TIE_RULES = ("first", "random", "none")


def tie_settings(default: str) -> tuple[Setting, ...]:
    """The tie rule of a session's votes, recorded with its settings (default: the source's)."""
    return (
        Setting(
            "tie_break",
            "choice",
            default,
            label="Tie rule of the votes",
            help="first: the answer given first in agent order (Du et al., ReConcile); random: "
            "one of the tied answers, drawn with the tie seed (Debate-or-Vote); none: a tie "
            "gives no answer and scores as wrong.",
            choices=TIE_RULES,
        ),
        Setting(
            "tie_seed",
            "int",
            0,
            label="Tie seed",
            help="Seed of the random tie rule; with the question it fixes every draw.",
            min=0,
            max=2**31 - 1,
        ),
    )


# --- what a participant sees -------------------------------------------------------------------
@dataclass(frozen=True)
class PostMeta:
    """Enough about a post to decide who may see it."""

    round: int | None
    author_id: int | None
    kind: str  # argument, note, system, event
    target_id: int | None = None


@dataclass(frozen=True)
class Brief:
    """How to present a turn to the participant taking it (agents' prompts, people's form).

    ``context`` is "transcript" (every visible post), "grouped" (the previous round's answers
    grouped by answer with explanations and confidences, as ReConcile does), "others" (the other
    agents' solutions of the previous round, with the agent's own earlier replies as its
    conversation, as Du et al. do), or "none" (only the question: independent answers).
    """

    phase: str
    instructions: str = ""
    context: str = "transcript"
    target_id: int | None = None
    assigned: str | None = None  # the stance or answer this participant must defend
    answer_kind: str = "answer"  # "answer", "review" (a 1-10 score), "verdict"
    # What a review's score means: "feedback_confidence" (the reviewer's confidence in their
    # feedback, Xu et al. 2023) or "correctness" (that the target's solution is correct).
    score_means: str = ""


class Protocol:
    """Base class: subclasses set ``name``/``title``/``source`` and implement ``handle``."""

    name: ClassVar[str]
    title: ClassVar[str]
    source: ClassVar[str]
    summary: ClassVar[str] = ""
    settings_schema: ClassVar[tuple[Setting, ...]] = ()
    # The rule that gives the session's final answer: "plurality", "confidence_weighted",
    # "judge" or "none".
    final_rule: ClassVar[str] = "plurality"
    # How a tie for first is broken in every vote rule, by default: "first" (the answer given
    # first in agent order, as Du et al.'s and ReConcile's code do), "random" (uniform among the
    # leaders with a recorded seed, as Debate-or-Vote's code does, and our choice where the
    # source defines no rule) or "none" (a tie has no answer, so it scores as wrong).
    tie_rule: ClassVar[str] = "random"
    # Whether round 1 is a sealed round of independent answers (each debater sees only the
    # question), so that its plurality is an honest vote-only baseline (Debate-or-Vote).
    independent_first_round: ClassVar[bool] = False
    # Roles the protocol needs besides debaters ("judge"), and how many debaters, if fixed.
    needs_judge: ClassVar[bool] = False
    debater_count: ClassVar[int | None] = None

    @property
    def all_settings(self) -> tuple[Setting, ...]:
        return (*self.settings_schema, *COMMON_SETTINGS, *tie_settings(self.tie_rule))

    @property
    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.all_settings}

    def clean_settings(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return validated settings with defaults filled in, or raise SettingsError."""
        raw = dict(raw or {})
        cleaned = {s.name: s.clean(raw.pop(s.name, None)) for s in self.all_settings}
        if raw:
            raise SettingsError(f"unknown setting(s) for {self.title}: {', '.join(sorted(raw))}")
        return cleaned

    def handle(self, state: SessionState, event: Event) -> list[Action]:
        raise NotImplementedError

    def expected(self, state: SessionState) -> list[Slot]:
        """The slots that may be filled right now (empty when nobody is expected to speak)."""
        raise NotImplementedError

    def may_post(self, state: SessionState, participant_id: int) -> bool:
        return state.status == "running" and any(
            pid == participant_id for pid, _ in self.expected(state)
        )

    def planned_rounds(self, settings: Mapping[str, Any]) -> int | None:
        """How many rounds the session runs at most (for "round 2 of 4"), if known."""
        rounds = settings.get("rounds")
        return int(rounds) if rounds else None

    def check_participants(self, state: SessionState) -> str | None:
        """Why the participants cannot run this protocol (the engine refuses to start), or None."""
        return None

    def brief(self, state: SessionState, slot: Slot) -> Brief:
        return Brief(phase=state.phase)

    def turn_brief(self, state: SessionState, slot: Slot) -> Brief:
        """The brief of a turn as callers ask for it (protocols override :meth:`brief`)."""
        return self.brief(state, slot)

    def can_see(self, state: SessionState, viewer: Speaker | None, post: PostMeta) -> bool:
        """Whether ``viewer`` may see ``post`` now. Moderators see everything."""
        return True

    def rounds_total(self, settings: Mapping[str, Any]) -> int | None:
        """The rounds a session runs at most, the independent vote pass included."""
        planned = self.planned_rounds(settings)
        if planned is not None and not self.independent_first_round and settings.get("vote_pass"):
            return planned + 1
        return planned

    def has_vote_baseline(self, settings: Mapping[str, Any]) -> bool:
        """Whether round 1's plurality is a vote-only baseline: round 1 was independent and
        sealed, by the protocol's design or through the independent vote pass."""
        return self.independent_first_round or bool(settings.get("vote_pass"))


# --- the shared implementation -----------------------------------------------------------------
class TurnProtocol(Protocol):
    """Event handling shared by the shipped protocols.

    Subclasses define :meth:`round_plan` (the phase and slots of round ``number``, or None to
    stop) and may override :meth:`stop_reason` (stop early after a round), ``sequential`` (one
    slot at a time, in order, or all at once) and ``sealed`` (others' posts of the open round
    stay hidden until it closes, so answers are independent).
    """

    sequential: ClassVar[bool] = True
    sealed: ClassVar[bool] = False

    @property
    def all_settings(self) -> tuple[Setting, ...]:
        extra = () if self.independent_first_round else (VOTE_PASS,)
        return (*super().all_settings, *extra)

    # --- the independent vote pass -------------------------------------------------------------
    # A protocol whose round 1 is not independent (speakers hear each other, or defend assigned
    # stances) can open with a sealed round in which each debater answers alone, so that the
    # Debate-or-Vote comparison is honest: the session's round 1 is then that vote, and the
    # protocol's own rounds follow as rounds 2, 3 ... The subclass never sees the vote round:
    # every hook gets the state without it, renumbered from 1.
    def _voting(self, state: SessionState) -> bool:
        return not self.independent_first_round and bool(state.settings.get("vote_pass"))

    def _inner(self, state: SessionState) -> SessionState:
        """The state as the protocol itself sees it (without the vote round, renumbered)."""
        if not self._voting(state) or not state.rounds:
            return state
        return replace(
            state,
            rounds=tuple(replace(r, number=r.number - 1) for r in state.rounds[1:]),
        )

    def _plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        if not self._voting(state):
            return self.round_plan(state, number)
        if number == 1:
            return VOTE_PHASE, [(s.id, None) for s in state.debaters]
        return self.round_plan(self._inner(state), number - 1)

    def _in_vote_round(self, state: SessionState) -> bool:
        return self._voting(state) and state.round == 1

    def turn_brief(self, state: SessionState, slot: Slot) -> Brief:
        if self._in_vote_round(state):
            return Brief(
                phase=VOTE_PHASE,
                instructions="Answer on your own: you will not see the others' answers until "
                "everyone has answered.",
                context="none",
            )
        return self.brief(self._inner(state), slot)

    # --- to override ---------------------------------------------------------------------------
    def round_plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        raise NotImplementedError

    def stop_reason(self, state: SessionState) -> str | None:
        """Checked after each round closes: a reason to finish early, else None."""
        return None

    def finished_reason(self, state: SessionState) -> str:
        n = state.round
        if self._voting(state):
            return f"completed the vote and {n - 1} round{'' if n == 2 else 's'}"
        return f"completed {n} round{'' if n == 1 else 's'}"

    # --- shared --------------------------------------------------------------------------------
    def slots(self, state: SessionState) -> list[Slot]:
        """The current round's slots, in speaking order."""
        if not state.rounds:
            return []
        plan = self._plan(_without_current(state), state.round)
        return plan[1] if plan else []

    def pending(self, state: SessionState) -> list[Slot]:
        done = state.done
        return [slot for slot in self.slots(state) if slot not in done]

    def expected(self, state: SessionState) -> list[Slot]:
        current = state.current
        if state.status != "running" or current is None or not current.open:
            return []
        pending = self.pending(state)
        sequential = self.sequential and not self._in_vote_round(state)
        return pending[:1] if sequential else pending

    def handle(self, state: SessionState, event: Event) -> list[Action]:
        if state.status == "finished":
            return []
        if isinstance(event, Ended):
            closing = [CloseRound(state.round)] if state.current and state.current.open else []
            return [*closing, Finish(event.reason)]
        if isinstance(event, RoundAdvanced):
            return self._next_round(state)
        if isinstance(event, DeadlinePassed | Skipped):
            slot = (event.participant_id, event.target_id)
            if state.current is None or slot in state.done or slot not in self.slots(state):
                return []
            reason = "deadline" if isinstance(event, DeadlinePassed) else "skipped"
            status = "abstained" if reason == "deadline" else "skipped"
            after = state.with_contribution(
                Contribution(event.participant_id, event.target_id, status=status)
            )
            return [RecordAbstention(*slot, reason=reason), *self._continue(after)]
        if state.status != "running":
            return []  # paused or draft: a late post is kept but nobody new is asked to speak
        if isinstance(event, Started) and state.round == 0:
            return self._next_round(state)
        if isinstance(event, Started | Resumed | PostStored | TurnFailed | SettingsChanged):
            return self._continue(state)
        return []

    def _continue(self, state: SessionState) -> list[Action]:
        if state.current is None or not state.current.open:
            return []
        if self.pending(state):
            if state.status != "running":
                return []
            return [RequestTurn(*slot) for slot in self.expected(state)]
        return self._next_round(state)

    def _next_round(self, state: SessionState) -> list[Action]:
        actions: list[Action] = []
        if state.current is not None and state.current.open:
            actions.append(CloseRound(state.round))
            state = replace(state, rounds=(*state.rounds[:-1], replace(state.current, open=False)))
        if state.rounds and not self._in_vote_round(state):
            reason = self.stop_reason(self._inner(state))
            if reason:
                return [*actions, Finish(reason)]
        number = state.round + 1
        plan = self._plan(state, number)
        if plan is None:
            if not state.rounds:
                return [*actions, Finish(self.nobody_reason(state))]
            return [*actions, Finish(self.finished_reason(state))]
        phase, slots = plan
        actions.append(OpenRound(number, phase))
        opened = replace(state, rounds=(*state.rounds, RoundView(number, phase)))
        if not slots:  # nobody has anything to say this round (e.g. everyone already agrees)
            return [*actions, *self._next_round(opened)]
        if state.status == "running":
            actions.extend(RequestTurn(*slot) for slot in self.expected(opened))
        return actions

    def nobody_reason(self, state: SessionState) -> str:
        return "no debaters"

    def can_see(self, state: SessionState, viewer: Speaker | None, post: PostMeta) -> bool:
        if viewer is None or viewer.role == "moderator" or state.status == "finished":
            return True
        if post.kind != "argument" or post.author_id == viewer.id:
            return True
        current = state.current
        sealed = self.sealed or self._in_vote_round(state)
        return not (sealed and current and current.open and post.round == current.number)


def _without_current(state: SessionState) -> SessionState:
    """The state as it was when the current round opened (plans depend only on earlier rounds)."""
    return replace(state, rounds=state.rounds[:-1])


# --- helpers for protocols ---------------------------------------------------------------------
def plurality_winner(answers: Mapping[int, Hashable]) -> Hashable | None:
    """The most frequent answer, or None when there is none or the top is tied."""
    counts = Counter(answers.values()).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def unanimous(answers: Mapping[int, Hashable], expected: int) -> bool:
    """Everyone expected gave the same usable answer."""
    return expected > 0 and len(answers) == expected and len(set(answers.values())) == 1


def ordered_debaters(state: SessionState) -> list[Speaker]:
    """Debaters in the moderator's ``order`` setting first (if any), then by position."""
    order = list(state.settings.get("order") or [])
    debaters = state.debaters
    ranked = {pid: i for i, pid in enumerate(order)}
    return sorted(debaters, key=lambda s: (ranked.get(s.id, len(ranked)), s.position, s.id))
