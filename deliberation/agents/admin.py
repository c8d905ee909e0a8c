from django.contrib import admin

from .models import AgentProfile, AgentTurn


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "backend", "model", "base_url", "api_key_env")
    list_filter = ("backend",)
    search_fields = ("name", "model")


@admin.register(AgentTurn)
class AgentTurnAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "session",
        "participant",
        "status",
        "attempts",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "created_at",
    )
    list_filter = ("status", "backend")
    list_select_related = ("session", "participant")
    search_fields = ("reply", "error", "model")
    raw_id_fields = ("session", "round", "participant", "post")
