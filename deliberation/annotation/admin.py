from django.contrib import admin
from django.db.models import Count

from .models import AgentLabelRun, Annotator, Assignment, ImportJob, Item, Label, Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "label_format", "labels_per_item", "n_items", "owner", "created_at"]
    list_filter = ["label_format", "crowd_enabled", "auto_escalate"]
    search_fields = ["name", "instructions"]
    list_select_related = ["owner"]
    filter_horizontal = ["managers", "escalation_agents"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_items=Count("items"))

    @admin.display(ordering="n_items", description="items")
    def n_items(self, obj):
        return obj.n_items


class LabelInline(admin.TabularInline):
    model = Label
    extra = 0
    fields = ["annotator", "value", "confidence", "seconds_spent", "model", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("annotator")


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "is_check", "gold", "final_label", "escalation"]
    list_filter = ["is_check", "project"]
    search_fields = ["external_id", "project__name"]
    list_select_related = ["project", "escalation"]
    raw_id_fields = ["project", "escalation", "final_by"]
    inlines = [LabelInline]


@admin.register(Annotator)
class AnnotatorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "project", "user", "worker_id", "agent", "completion_code"]
    list_filter = ["kind"]
    search_fields = ["name", "worker_id", "user__username", "agent__name"]
    list_select_related = ["project", "user", "agent"]
    raw_id_fields = ["project", "user", "agent"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["item", "annotator", "value", "confidence", "model", "created_at"]
    list_filter = ["annotator__kind"]
    search_fields = ["item__external_id", "annotator__name", "rationale"]
    list_select_related = ["item", "annotator"]
    raw_id_fields = ["item", "annotator"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["item", "annotator", "status", "assigned_at", "expires_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["item", "annotator"]
    raw_id_fields = ["item", "annotator"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["filename", "project", "status", "processed_rows", "total_rows", "created_at"]
    list_filter = ["status"]
    list_select_related = ["project"]
    exclude = ["content"]
    readonly_fields = ["errors"]


@admin.register(AgentLabelRun)
class AgentLabelRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "concurrency", "total", "created_at"]
    list_filter = ["status"]
    list_select_related = ["project"]
