"""Agent profiles: which backend and model an agent uses, with its parameters and prices."""

from __future__ import annotations

from rest_framework import serializers

from deliberation.agents.models import AgentProfile, outbound_problems


class AgentProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentProfile
        fields = [
            "id",
            "name",
            "backend",
            "model",
            "base_url",
            "api_key_env",
            "parameters",
            "system_prompt",
            "seed",
            "timeout_seconds",
            "max_retries",
            "prompt_price_per_mtok",
            "completion_price_per_mtok",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "api_key_env": {
                "help_text": "The NAME of the environment variable with the key, never the key."
            }
        }

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Parameters are a JSON object.")
        return value

    def validate_timeout_seconds(self, value: float) -> float:
        if not 0 < value <= 3600:
            raise serializers.ValidationError("A timeout between 0 and 3600 seconds.")
        return value

    def validate(self, attrs):
        """What the worker would read and call: only allowed API key variables and base URLs
        (docs/security.md), as the admin's ``AgentProfile.clean`` checks them."""

        def current(name: str):
            if name in attrs:
                return attrs[name]
            if self.instance is not None:
                return getattr(self.instance, name)
            return AgentProfile._meta.get_field(name).get_default()

        problems = outbound_problems(
            current("backend"), current("base_url") or "", current("api_key_env") or ""
        )
        if problems:
            raise serializers.ValidationError(problems)
        return attrs
