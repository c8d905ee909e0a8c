"""Sessions, posts, opinions and adjudications as the API reads and writes them."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from deliberation.debates.controls import CONTROL_ACTIONS
from deliberation.debates.models import DebateSession
from deliberation.debates.presentation import passage_hidden
from deliberation.protocols.base import SETTING_KINDS
from deliberation.protocols.registry import PROTOCOLS

from .common import AgentRefField


class ProtocolSettingSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=list(SETTING_KINDS))
    default = serializers.JSONField()
    label = serializers.CharField()
    help = serializers.CharField()
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    choices = serializers.ListField(child=serializers.CharField())
    live = serializers.BooleanField(help_text="The moderator may change it while it runs.")


class ProtocolSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    source = serializers.CharField()
    summary = serializers.CharField()
    final_rule = serializers.CharField()
    needs_judge = serializers.BooleanField()
    debater_count = serializers.IntegerField(allow_null=True)
    settings = ProtocolSettingSerializer(many=True, source="all_settings")


class SessionCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    question = serializers.CharField(max_length=20_000)
    answer_format = serializers.ChoiceField(
        choices=DebateSession.AnswerFormat.choices, default="single_choice"
    )
    options = serializers.ListField(
        child=serializers.CharField(max_length=500),
        max_length=50,
        default=list,
        help_text="Choice and ranking questions: at least two distinct options.",
    )
    tolerance = serializers.FloatField(min_value=0, default=0.0)
    gold_answer = serializers.JSONField(
        required=False, allow_null=True, help_text="The known correct answer, if any."
    )
    passage = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200_000,
        help_text="Judged debate: the source text the debaters see and quote (in "
        "<quote>...</quote> tags) and the judges do not see (Khan et al. 2024).",
    )
    protocol = serializers.ChoiceField(choices=list(PROTOCOLS), default="round_robin")
    settings = serializers.DictField(
        default=dict, help_text="The protocol's settings (see GET /protocols/); defaults fill in."
    )
    join_role = serializers.ChoiceField(
        choices=DebateSession.JoinRole.choices,
        default="debater",
        help_text="Role of the people who join with the invite token.",
    )
    agents = serializers.ListField(
        child=AgentRefField(),
        default=list,
        max_length=50,
        help_text="Agent debaters, in speaking order (they speak before people who join).",
    )
    judge = AgentRefField(required=False, allow_null=True, help_text="An agent judge.")


class ParticipantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    alias = serializers.CharField()
    kind = serializers.CharField(help_text="human, agent, or 'participant' under anonymity.")
    role = serializers.CharField()
    side = serializers.CharField()


class SessionSummarySerializer(serializers.ModelSerializer):
    my_role = serializers.CharField(allow_null=True)

    class Meta:
        model = DebateSession
        fields = [
            "id",
            "title",
            "question",
            "answer_format",
            "options",
            "status",
            "protocol",
            "created_at",
            "started_at",
            "finished_at",
            "finish_reason",
            "my_role",
        ]


class SessionDetailSerializer(serializers.ModelSerializer):
    settings = serializers.JSONField(source="protocol_settings")
    me = ParticipantSerializer(allow_null=True, help_text="You in this session.")
    invite_token = serializers.CharField(
        allow_null=True, help_text="Moderators only: others join with it."
    )
    gold_answer = serializers.JSONField(allow_null=True, help_text="Moderators only.")
    passage = serializers.CharField(
        allow_null=True,
        allow_blank=True,
        help_text="The judged debate's source text; null for judges until the session has "
        "finished (they judge by the quotes alone).",
    )
    state = serializers.JSONField(
        help_text="Round, phase, who is expected, participants (as you see them), and the "
        "outcome once finished."
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        me = instance.get("me") if isinstance(instance, dict) else None
        if passage_hidden((me or {}).get("role"), data.get("status")):
            data["passage"] = None
        return data

    class Meta:
        model = DebateSession
        fields = [
            "id",
            "title",
            "question",
            "answer_format",
            "options",
            "tolerance",
            "gold_answer",
            "passage",
            "status",
            "protocol",
            "settings",
            "join_role",
            "invite_token",
            "created_at",
            "started_at",
            "finished_at",
            "finish_reason",
            "me",
            "state",
        ]


class JoinSerializer(serializers.Serializer):
    invite_token = serializers.CharField(max_length=40)


class ControlSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=CONTROL_ACTIONS,
        help_text="start, pause, resume, advance (close the round), end, extend "
        "(participant_id, seconds), skip (participant_id), set (name, value).",
    )
    participant_id = serializers.IntegerField(required=False)
    seconds = serializers.FloatField(required=False)
    name = serializers.CharField(required=False, max_length=100)
    value = serializers.JSONField(required=False)


class PostCreateSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=True, max_length=1_000_000)
    answer = serializers.JSONField(required=False, allow_null=True)
    confidence = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    score = serializers.IntegerField(
        required=False, allow_null=True, help_text="Peer review: 1-10 for the reviewed solution."
    )
    target_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="Peer review: whose solution this reviews."
    )
    client_msg_id = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=64,
        help_text="Your id for this post: a retry with the same id never posts twice.",
    )

    def validate_text(self, value: str) -> str:
        limit = settings.DELIBERATION["MAX_POST_CHARS"]
        if len(value) > limit:
            raise serializers.ValidationError(
                f"A post can have at most {limit} characters ({len(value)} sent)."
            )
        return value


class PostSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="Position in the transcript, from 1.")
    kind = serializers.CharField(help_text="argument, note, system, event, or sealed.")
    round = serializers.IntegerField(allow_null=True)
    phase = serializers.CharField()
    author = ParticipantSerializer(allow_null=True)
    target = ParticipantSerializer(allow_null=True)
    text = serializers.CharField(allow_blank=True)
    answer = serializers.JSONField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    parse_status = serializers.CharField(allow_blank=True)
    data = serializers.JSONField()
    client_msg_id = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    sealed_until = serializers.CharField(
        required=False, help_text="Sealed posts: revealed when the round closes or at the end."
    )


class TranscriptSerializer(serializers.Serializer):
    results = PostSerializer(many=True)
    last_seq = serializers.IntegerField(help_text="The session's newest post so far.")
    next_after = serializers.IntegerField(
        allow_null=True, help_text="Pass as ?after= for the next page; null on the last page."
    )


class OpinionCreateSerializer(serializers.Serializer):
    answer = serializers.JSONField()
    confidence = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class OpinionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    round = serializers.IntegerField(source="round.number")
    participant = serializers.IntegerField(source="participant_id")
    answer = serializers.JSONField()
    confidence = serializers.FloatField(allow_null=True)
    note = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField()


class DecisionCreateSerializer(serializers.Serializer):
    answer = serializers.JSONField(help_text="The final answer, valid for the answer format.")
    rationale = serializers.CharField(max_length=10_000)
    posts = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=1000,
        help_text="Sequence numbers of the posts the decision relies on.",
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=10_000,
        help_text="Required when revising: why the decision changes.",
    )


class RevisionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    final_answer = serializers.JSONField()
    rationale = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    decided_by = serializers.CharField(source="decided_by.get_username")
    decided_at = serializers.DateTimeField()
    posts = serializers.SerializerMethodField()
    rules_agreeing = serializers.ListField(child=serializers.CharField())

    def get_posts(self, revision) -> list[int]:
        return sorted(p.seq for p in revision.posts.all())


class AdjudicationSerializer(serializers.Serializer):
    published = serializers.BooleanField()
    published_at = serializers.DateTimeField(allow_null=True)
    current = RevisionSerializer(allow_null=True)
    revisions = RevisionSerializer(many=True, help_text="Newest first; nothing is overwritten.")
