"""Fields shared by several resources."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deliberation.agents.models import AgentProfile
from deliberation.batches.services import BatchError, resolve_profiles


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "An agent profile by id or exact name, or 'sim:accuracy=0.8,seed=3' for "
        "a simulated agent with that behaviour (created on first use).",
    }
)
class AgentRefField(serializers.Field):
    default_error_messages = {"type": "Name an agent profile by id or name."}

    def to_internal_value(self, data) -> AgentProfile:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("type")
        spec = str(data).strip()
        if not spec:
            self.fail("type")
        try:
            return resolve_profiles([spec])[0]
        except BatchError as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value: AgentProfile):
        return value.pk
