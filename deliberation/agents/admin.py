from django.contrib import admin

from deliberation.debates.admin import FrozenOnceFinished

from .models import AgentProfile, AgentTurn


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "backend",
        "model",
        "base_url",
        "api_key_env",
        "prompt_price_per_mtok",
        "completion_price_per_mtok",
    )
    # Prices (USD per million tokens) are edited in the list too: batch runs need them for
    # cost-of-pass, and a profile left at 0/0 has an unknown cost (docs/batch-runs.md).
    list_editable = ("prompt_price_per_mtok", "completion_price_per_mtok")
    list_filter = ("backend",)
    search_fields = ("name", "model")


@admin.register(AgentTurn)
class AgentTurnAdmin(FrozenOnceFinished, admin.ModelAdmin):
    list_display = (
        "id",
        "session",
        "participant",
        "status",
        "parse_status",
        "attempts",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "cost_usd",
        "created_at",
    )
    list_filter = ("status", "backend", "parse_status")
    list_select_related = ("session", "participant")
    search_fields = ("reply", "error", "model", "session__title")
    raw_id_fields = ("session", "round", "participant", "target", "post")
    readonly_fields = ("agent_call",)

    @admin.display(description="the call, as sent")
    def agent_call(self, turn):
        from deliberation.debates.admin import agent_call_html

        return agent_call_html(turn)
