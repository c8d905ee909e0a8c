from django.contrib import admin

from .models import DebateSession, Participant, Post, Round


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    raw_id_fields = ("user", "agent_profile")


@admin.register(DebateSession)
class DebateSessionAdmin(admin.ModelAdmin):
    list_display = ("title", "status", "protocol", "created_by", "created_at")
    list_filter = ("status", "protocol")
    list_select_related = ("created_by",)
    search_fields = ("title", "question")
    inlines = [ParticipantInline]


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("session", "seq", "author", "kind", "created_at")
    list_filter = ("kind",)
    list_select_related = ("session", "author")
    search_fields = ("text",)
    raw_id_fields = ("session", "round", "author")


admin.site.register(Round)
