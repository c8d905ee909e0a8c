"""Batch runs: a question set answered by agents only, one session per question."""

from __future__ import annotations

import math

from rest_framework import serializers

from deliberation.batches.services import MAX_CONCURRENCY
from deliberation.debates.models import DebateSession
from deliberation.protocols.registry import PROTOCOLS

from .common import AgentRefField

MAX_API_QUESTIONS = 10_000


class QuestionSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=20_000)
    options = serializers.ListField(
        child=serializers.CharField(max_length=500), default=list, max_length=50
    )
    gold = serializers.JSONField(required=False, allow_null=True)


class BatchCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    questions = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=MAX_API_QUESTIONS,
        help_text="Objects {question, options: [...], gold}; every bad one is reported.",
    )
    answer_format = serializers.ChoiceField(
        choices=DebateSession.AnswerFormat.choices, default="single_choice"
    )
    tolerance = serializers.FloatField(min_value=0, default=0.0)
    protocol = serializers.ChoiceField(choices=list(PROTOCOLS), default="simultaneous")
    settings = serializers.DictField(default=dict)
    agents = serializers.ListField(child=AgentRefField(), min_length=1, max_length=50)
    judge = AgentRefField(required=False, allow_null=True)
    concurrency = serializers.IntegerField(min_value=1, max_value=MAX_CONCURRENCY, default=4)


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    running = serializers.IntegerField()
    pending = serializers.IntegerField()
    percent = serializers.IntegerField()


COST_STATES = [
    ("ok", "known (the value is null when infinite: never answered right)"),
    ("no_price", "an agent profile has no prices: unknown, never 0"),
    ("no_data", "results stored before per-position costs: unknown"),
    ("no_gold", "no gold answers"),
]


class CostOfPassRowSerializer(serializers.Serializer):
    who = serializers.CharField(help_text="Profile name, or 'rule: NAME'.")
    kind = serializers.ChoiceField(choices=["profile", "rule"])
    questions = serializers.IntegerField(help_text="Questions with a gold answer.")
    attempts = serializers.IntegerField()
    successes = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)
    mean_cost_usd = serializers.FloatField(allow_null=True, help_text="Mean cost of one attempt.")
    cost_of_pass = serializers.SerializerMethodField(
        help_text="Erol et al. 2025: mean over questions of cost / success rate, USD; null when "
        "infinite (see cost_of_pass_infinite) or unknown (see state)."
    )
    cost_of_pass_infinite = serializers.SerializerMethodField()
    cost_per_correct = serializers.SerializerMethodField(
        help_text="Total cost / correct answers (a ratio of means), USD; null when infinite or "
        "unknown."
    )
    cost_per_correct_infinite = serializers.SerializerMethodField()
    state = serializers.ChoiceField(choices=COST_STATES)

    def get_cost_of_pass(self, row) -> float | None:
        return _finite(row.cost_of_pass)

    def get_cost_of_pass_infinite(self, row) -> bool:
        return _infinite(row.cost_of_pass)

    def get_cost_per_correct(self, row) -> float | None:
        return _finite(row.cost_per_correct)

    def get_cost_per_correct_infinite(self, row) -> bool:
        return _infinite(row.cost_per_correct)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def _infinite(value: float | None) -> bool:
    return value is not None and math.isinf(value)


class CostOfPassSerializer(serializers.Serializer):
    profiles = CostOfPassRowSerializer(many=True)
    rules = CostOfPassRowSerializer(many=True)
    frontier = serializers.SerializerMethodField(
        help_text="Mean over questions of the cheapest priced profile's cost / success rate, "
        "USD (no human-expert baseline); null when infinite or no profile is priced."
    )
    frontier_infinite = serializers.SerializerMethodField()
    frontier_wins = serializers.DictField(
        child=serializers.IntegerField(), help_text="Profile -> questions where it is cheapest."
    )
    unsolved = serializers.IntegerField(help_text="Questions no priced profile answered right.")
    cheapest = serializers.CharField(
        allow_null=True, help_text="The profile with the lowest cost of pass."
    )
    excluded = serializers.ListField(
        child=serializers.CharField(), help_text="Profiles of unknown cost, left out."
    )
    frontier_with_rules = serializers.SerializerMethodField(
        help_text="The same frontier with the final-answer rules as further candidates."
    )
    frontier_with_rules_infinite = serializers.SerializerMethodField()

    def get_frontier(self, table) -> float | None:
        return _finite(table.frontier)

    def get_frontier_infinite(self, table) -> bool:
        return _infinite(table.frontier)

    def get_frontier_with_rules(self, table) -> float | None:
        return _finite(table.frontier_with_rules)

    def get_frontier_with_rules_infinite(self, table) -> bool:
        return _infinite(table.frontier_with_rules)


class AccuracyTableSerializer(serializers.Serializer):
    participants = serializers.ListField(child=serializers.CharField())
    rounds = serializers.ListField(child=serializers.IntegerField())
    per_participant = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField(allow_null=True)),
        help_text="participant -> round -> accuracy (null without gold answers).",
    )
    per_rule = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="Final-answer rule -> accuracy; vote_only is the Debate-or-Vote baseline.",
    )
    per_rule_ties = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="Final-answer rule -> share of questions with a tie for first.",
    )
    tie_break = serializers.CharField(
        help_text="The tie rule the sessions recorded: first, random, none (or mixed)."
    )
    default_rule = serializers.CharField()
    agreement = serializers.DictField(
        child=serializers.DictField(allow_null=True),
        help_text="Round -> Krippendorff's alpha and Fleiss' kappa of the agents' answers with "
        "the questions as units (alpha, kappa, questions, complete; null where undefined).",
    )
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=6)
    cost_of_pass = CostOfPassSerializer(
        allow_null=True, help_text="Cost-of-pass per profile and rule, and the frontier."
    )


class BatchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField(help_text="pending, running, finished or cancelled.")
    protocol = serializers.CharField()
    settings = serializers.JSONField(source="protocol_settings")
    answer_format = serializers.CharField()
    tolerance = serializers.FloatField()
    agents = serializers.ListField(child=serializers.IntegerField(), source="agent_ids")
    judge = serializers.IntegerField(allow_null=True, source="judge_id")
    concurrency = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class BatchDetailSerializer(BatchSerializer):
    progress = ProgressSerializer()
    table = AccuracyTableSerializer()


class BatchItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    index = serializers.IntegerField()
    question = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField())
    gold = serializers.JSONField(allow_null=True)
    status = serializers.CharField()
    session = serializers.IntegerField(allow_null=True, source="session_id")
    error = serializers.CharField(allow_blank=True)
    result = serializers.JSONField(allow_null=True)


class ResumeSerializer(serializers.Serializer):
    resumed_sessions = serializers.IntegerField()
    requeued_turns = serializers.IntegerField()
    started = serializers.IntegerField()
