"""Annotation projects, items, imports, labels and aggregates as the API reads and writes them.

Writing a project is checked twice on purpose: these serializers check the JSON types (and the
model's ranges, which the schema then shows); :class:`ProjectForm` then applies the project's
rules, the same ones as on the settings page.
"""

from __future__ import annotations

import math

from rest_framework import serializers

from deliberation.agents.models import AgentProfile
from deliberation.annotation import importing
from deliberation.annotation.aggregation import METHOD_NAMES
from deliberation.annotation.forms import ProjectForm
from deliberation.annotation.models import Project
from deliberation.protocols.registry import protocol_choices

MAX_API_ITEMS = 100_000


def _one_line(value: str) -> None:
    # The form reads options one per line; a line break would split one option in two.
    if "\n" in value or "\r" in value:
        raise serializers.ValidationError("One line each: no line breaks.")


class FiniteFloatField(serializers.FloatField):
    """A float that is never NaN or infinite in the output (null instead): strict JSON."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value):
        number = float(value)
        return number if math.isfinite(number) else None


# --- projects ---------------------------------------------------------------------------------
class ProjectWriteSerializer(serializers.ModelSerializer):
    options = serializers.ListField(
        child=serializers.CharField(validators=[_one_line]),
        required=False,
        help_text="Choice formats: at least two distinct options (at most 50), in display "
        "order. Dropped for numeric and free-text projects.",
    )
    shown_fields = serializers.ListField(
        child=serializers.CharField(validators=[_one_line]),
        required=False,
        help_text="Item columns shown to annotators, in order. Empty: every column.",
    )
    escalation_protocol = serializers.ChoiceField(choices=protocol_choices(), required=False)
    escalation_agents = serializers.PrimaryKeyRelatedField(
        queryset=AgentProfile.objects.all(),
        many=True,
        required=False,
        help_text="Ids of the agent profiles that join the deliberation of an escalated item.",
    )

    class Meta:
        model = Project
        fields = [*ProjectForm.Meta.fields, "options", "shown_fields"]


class ProjectSerializer(serializers.ModelSerializer):
    options = serializers.ListField(child=serializers.CharField())
    shown_fields = serializers.ListField(child=serializers.CharField())
    escalation_agents = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    managers = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")
    crowd_token = serializers.CharField(
        read_only=True, help_text="Crowd workers join with /annotation/crowd/<token>/."
    )
    item_count = serializers.IntegerField(read_only=True)
    label_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            *ProjectForm.Meta.fields,
            "options",
            "shown_fields",
            "crowd_token",
            "owner",
            "managers",
            "created_at",
            "item_count",
            "label_count",
        ]


# --- items and imports ------------------------------------------------------------------------
class ProjectItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    position = serializers.IntegerField()
    data = serializers.JSONField(help_text="The imported row, less its gold and check columns.")
    gold = serializers.JSONField(allow_null=True)
    is_check = serializers.BooleanField(help_text="A gold / attention-check item.")
    final_label = serializers.JSONField(allow_null=True, help_text="The adjudicated label.")
    final_rationale = serializers.CharField(allow_blank=True)
    label_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ItemsCreateSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=MAX_API_ITEMS,
        help_text="Rows with any keys, read like lines of a JSONL import; every bad row is "
        "reported as items.<index>[.<key>].",
    )
    id_column = serializers.CharField(
        default="id", max_length=200, help_text="The key holding the item id (else its index+1)."
    )
    gold_column = serializers.CharField(
        default="", allow_blank=True, max_length=200, help_text="The key holding a gold label."
    )
    check_column = serializers.CharField(
        default="",
        allow_blank=True,
        max_length=200,
        help_text="The key marking check items (1, true, yes, x, y); they need a gold label.",
    )
    mode = serializers.ChoiceField(
        choices=importing.MODES,
        default="all_or_nothing",
        help_text="all_or_nothing: one bad row imports nothing; skip_bad_rows: import the good "
        "rows and report the bad ones in the job's errors.",
    )


class ImportErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(
        help_text="Line of the file; for API imports, items[line-1]. 0: the whole import."
    )
    column = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class ImportProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.IntegerField()


class ImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    status = serializers.CharField(help_text="pending, running, done or failed.")
    options = serializers.JSONField(help_text="id_column, gold_column, check_column, mode.")
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    created_items = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)
    progress = ImportProgressSerializer()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


# --- labels -----------------------------------------------------------------------------------
class ProjectLabelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    item_external_id = serializers.CharField(source="item.external_id")
    annotator = serializers.CharField(
        source="annotator.label_key", help_text="user:<name>, crowd:<worker id> or agent:<name>."
    )
    annotator_kind = serializers.CharField(
        source="annotator.kind", help_text="person, crowd or agent."
    )
    value = serializers.JSONField()
    confidence = serializers.FloatField(allow_null=True)
    rationale = serializers.CharField(allow_blank=True)
    seconds_spent = serializers.FloatField(allow_null=True)
    model = serializers.CharField(allow_blank=True, help_text="Agents: the model called.")
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    created_at = serializers.DateTimeField()


class LabelCreateSerializer(serializers.Serializer):
    value = serializers.JSONField(
        help_text="Single choice: an option; multiple choice: a list of options; numeric: a "
        "number; free text: a string."
    )
    confidence = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=100,
        help_text="0-1, or a percentage above 1. Ignored when the project does not ask for it.",
    )
    seconds_spent = serializers.FloatField(
        required=False, allow_null=True, min_value=0, help_text="Default: since it was assigned."
    )


class LabellingProjectSerializer(serializers.Serializer):
    """What a labeller needs to know of the project (no gold, no crowd token)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    instructions = serializers.CharField(allow_blank=True)
    label_format = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField())
    ask_confidence = serializers.BooleanField()


class ShownFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.JSONField()


class EarlierLabelSerializer(serializers.Serializer):
    annotator = serializers.CharField(source="annotator.name")
    value = serializers.JSONField()
    confidence = serializers.FloatField(allow_null=True)


class AssignedItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Label it at /items/<id>/label/.")
    external_id = serializers.CharField()
    fields = ShownFieldSerializer(many=True, help_text="The columns shown, in order.")
    others = EarlierLabelSerializer(
        many=True, help_text="Earlier labels, only when the project is not blind."
    )
    expires_at = serializers.DateTimeField(help_text="The item is held for you until then.")


class LabellingProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    assigned = serializers.IntegerField(help_text="Items given to you: labelled, skipped, open.")
    target = serializers.IntegerField(allow_null=True, help_text="Crowd workers' quota.")


class NextItemSerializer(serializers.Serializer):
    item = AssignedItemSerializer(allow_null=True, help_text="Null when there is nothing for you.")
    reason = serializers.CharField(
        allow_blank=True,
        help_text="Why there is no item: done (every item has its labels or you labelled them "
        "all) or gold (your accuracy on check items is below the project's threshold).",
    )
    detail = serializers.CharField(allow_blank=True)
    progress = LabellingProgressSerializer()
    project = LabellingProjectSerializer()


# --- aggregate --------------------------------------------------------------------------------
class ItemResultSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item_id")
    external_id = serializers.CharField()
    labels = serializers.IntegerField()
    label = serializers.JSONField(allow_null=True, help_text="Consensus or adjudicated label.")
    confidence = FiniteFloatField(help_text="Posterior probability of label; null if decided.")
    source = serializers.CharField(help_text="aggregate, adjudicated or none.")
    agreement = FiniteFloatField(help_text="Share of labels giving the most common answer.")
    runner_up = serializers.JSONField(allow_null=True)
    confusion = FiniteFloatField(help_text="P(confused with runner_up).")
    difficulty = FiniteFloatField(help_text="GLAD only.")
    gold = serializers.JSONField(allow_null=True)
    correct = serializers.BooleanField(allow_null=True)


class AnnotatorResultSerializer(serializers.Serializer):
    annotator = serializers.CharField(help_text="As in the label list.")
    name = serializers.CharField()
    kind = serializers.CharField()
    labels = serializers.IntegerField()
    skill = FiniteFloatField(help_text="The method's quality estimate.")
    gold_answered = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = FiniteFloatField()


class AggregateSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=list(METHOD_NAMES))
    methods = serializers.ListField(
        child=serializers.CharField(), help_text="The methods that apply to this project."
    )
    pin_gold = serializers.BooleanField()
    iterations = serializers.IntegerField()
    converged = serializers.BooleanField()
    alpha = FiniteFloatField(help_text="Krippendorff's alpha (nominal) over all labels.")
    accuracy = FiniteFloatField(help_text="Consensus against gold, where known.")
    items = ItemResultSerializer(many=True)
    annotators = AnnotatorResultSerializer(many=True, help_text="Best estimated quality first.")
