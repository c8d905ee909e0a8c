from django.contrib import admin

from .models import Adjudication, AdjudicationRevision


class RevisionInline(admin.TabularInline):
    model = AdjudicationRevision
    fields = ("number", "final_answer", "decided_by", "decided_at", "reason", "rules_agreeing")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # decisions are recorded on the moderator page, with their checks


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ("session", "created_at", "published_at")
    readonly_fields = ("session", "created_at", "published_at", "published_by")
    inlines = [RevisionInline]

    def has_add_permission(self, request) -> bool:
        return False
