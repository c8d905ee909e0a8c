"""The admin as a transcript review tool: sessions with participants and posts inline (read-only
once finished), search over post text, names and models, filters by adjudication state and
flags, the agent call behind each agent post, and actions to export, flag and anonymise.

Every changelist computes its counts with annotations, so a page of 100 rows costs the same
number of queries as a page of one (tests/review asserts it)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from deliberation.agents.models import AgentTurn
from deliberation.moderation.models import Adjudication
from deliberation.review import services as review
from deliberation.review.models import Flag, ReviewNote
from deliberation.streaming import download

from .models import DebateSession, Participant, Post, Round


class _ReadOnlyOnceFinished:
    """Inline rows cannot be added, changed or deleted once the session has finished."""

    def _finished(self, obj) -> bool:
        return obj is not None and obj.status == DebateSession.Status.FINISHED

    def has_add_permission(self, request, obj=None):
        return not self._finished(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._finished(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._finished(obj) and super().has_delete_permission(request, obj)


class FrozenOnceFinished:
    """A finished transcript is read-only in the admin: every field of the row (the session
    itself, a post, a round, an agent turn) is shown, none can be changed, and the row cannot
    be deleted. Review flags and notes still can be added; corrections go through
    ``review.services.correct_post`` (``manage.py correct_post``), which records who changed
    what and why. ``finished_session`` says which session a row belongs to."""

    def finished_session(self, obj) -> bool:
        session = getattr(obj, "session", obj)
        return session is not None and getattr(session, "status", None) == (
            DebateSession.Status.FINISHED
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.finished_session(obj):
            names = [f.name for f in self.model._meta.concrete_fields]
            names += [f.name for f in self.model._meta.many_to_many]
            fields += [n for n in names if n not in fields]
        return fields

    def has_delete_permission(self, request, obj=None):
        if obj is not None and self.finished_session(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Bulk deletion would bypass the per-row rule above.
        actions.pop("delete_selected", None)
        return actions


class ParticipantInline(_ReadOnlyOnceFinished, admin.TabularInline):
    model = Participant
    extra = 0
    fields = ("display_name", "kind", "role", "position", "side", "user", "agent_profile")
    raw_id_fields = ("user", "agent_profile")


class PostInline(_ReadOnlyOnceFinished, admin.TabularInline):
    model = Post
    extra = 0
    fields = ("seq", "author", "kind", "answer", "confidence", "parse_status", "short_text")
    readonly_fields = ("short_text",)
    raw_id_fields = ("author", "round", "target")
    ordering = ("seq",)
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")

    @admin.display(description="text")
    def short_text(self, post):
        return post.text[:200]


class SessionFlagInline(admin.TabularInline):
    model = Flag
    extra = 0
    fields = ("post", "reason", "note", "reviewer", "created_at", "resolved_at")
    readonly_fields = ("reviewer", "created_at")
    raw_id_fields = ("post", "resolved_by")


class SessionNoteInline(admin.TabularInline):
    model = ReviewNote
    extra = 0
    fields = ("post", "text", "reviewer", "created_at")
    readonly_fields = ("reviewer", "created_at")
    raw_id_fields = ("post",)


class _SaveReviewer:
    """Flags and notes added inline are signed by the reviewer who added them, and belong to
    the session of the page (``session_of``)."""

    def session_of(self, obj) -> int:
        raise NotImplementedError

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for obj in instances:
            if isinstance(obj, Flag | ReviewNote):
                if obj.reviewer_id is None:
                    obj.reviewer = request.user
                if obj.session_id is None:
                    obj.session_id = self.session_of(form.instance)
            obj.save()
        formset.save_m2m()


class AdjudicationState(admin.SimpleListFilter):
    title = "adjudication"
    parameter_name = "adjudication"

    def lookups(self, request, model_admin):
        return [
            ("none", "Not decided"),
            ("decided", "Decided, not published"),
            ("published", "Published"),
        ]

    def queryset(self, request, queryset):
        decided = Adjudication.objects.filter(session=OuterRef("pk"), revisions__isnull=False)
        published = Adjudication.objects.filter(session=OuterRef("pk"), published_at__isnull=False)
        if self.value() == "none":
            return queryset.exclude(Exists(decided))
        if self.value() == "decided":
            return queryset.filter(Exists(decided)).exclude(Exists(published))
        if self.value() == "published":
            return queryset.filter(Exists(published))
        return queryset


class Flagged(admin.SimpleListFilter):
    title = "flags"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("open", "Open flags"), ("any", "Ever flagged"), ("no", "Never flagged")]

    def queryset(self, request, queryset):
        field = "session" if queryset.model is DebateSession else "post"
        flags = Flag.objects.filter(**{field: OuterRef("pk")})
        if self.value() == "open":
            return queryset.filter(Exists(flags.filter(resolved_at__isnull=True)))
        if self.value() == "any":
            return queryset.filter(Exists(flags))
        if self.value() == "no":
            return queryset.exclude(Exists(flags))
        return queryset


@admin.register(DebateSession)
class DebateSessionAdmin(FrozenOnceFinished, _SaveReviewer, admin.ModelAdmin):
    list_display = (
        "title",
        "status",
        "protocol",
        "n_participants",
        "n_posts",
        "open_flags",
        "adjudication_state",
        "created_at",
        "replay_link",
    )
    list_filter = ("status", "protocol", "created_at", AdjudicationState, Flagged)
    list_select_related = ("created_by",)
    raw_id_fields = ("created_by",)
    search_fields = (
        "title",
        "question",
        "posts__text",
        "participants__display_name",
        "participants__agent_profile__model",
        "participants__agent_profile__name",
    )
    date_hierarchy = "created_at"
    readonly_fields = ("replay_link", "created_at", "started_at", "finished_at")
    inlines = [ParticipantInline, PostInline, SessionFlagInline, SessionNoteInline]
    actions = ["export_jsonl", "flag_sessions", "anonymise"]

    def session_of(self, session: DebateSession) -> int:
        return session.pk

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        published = Adjudication.objects.filter(session=OuterRef("pk"), published_at__isnull=False)
        decided = Adjudication.objects.filter(session=OuterRef("pk"), revisions__isnull=False)
        return qs.annotate(
            _participants=Count("participants", distinct=True),
            _posts=Count("posts", distinct=True),
            _open_flags=Count("flags", filter=Q(flags__resolved_at__isnull=True), distinct=True),
            _published=Exists(published),
            _decided=Exists(decided),
        )

    @admin.display(description="participants", ordering="_participants")
    def n_participants(self, obj):
        return obj._participants

    @admin.display(description="posts", ordering="_posts")
    def n_posts(self, obj):
        return obj._posts

    @admin.display(description="open flags", ordering="_open_flags")
    def open_flags(self, obj):
        return obj._open_flags

    @admin.display(description="adjudication")
    def adjudication_state(self, obj):
        if getattr(obj, "_published", False):
            return "published"
        return "decided" if getattr(obj, "_decided", False) else "—"

    @admin.display(description="replay")
    def replay_link(self, obj):
        if obj.pk is None:
            return ""
        return format_html('<a href="{}">replay</a>', reverse("review:replay", args=[obj.pk]))

    @admin.action(description="Export selected sessions (JSONL, streamed)")
    def export_jsonl(self, request, queryset):
        from deliberation.transcripts.exporting import iter_jsonl

        sessions = DebateSession.objects.filter(pk__in=queryset.values("pk")).order_by("pk")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return download(
            request, iter_jsonl(sessions), "application/x-ndjson", f"sessions-{stamp}.jsonl"
        )

    @admin.action(description="Flag selected sessions")
    def flag_sessions(self, request, queryset):
        n = review.flag_sessions(queryset, request.user, note="Flagged from the session list.")
        self.message_user(request, f"{n} session(s) flagged.", messages.SUCCESS)

    @admin.action(description="Anonymise people (keep the transcript)")
    def anonymise(self, request, queryset):
        n = review.anonymise_people(queryset, request.user)
        self.message_user(request, f"{n} person(s) anonymised.", messages.SUCCESS)


class PostFlagInline(admin.TabularInline):
    model = Flag
    fk_name = "post"
    extra = 0
    fields = ("reason", "note", "reviewer", "created_at", "resolved_at")
    readonly_fields = ("reviewer", "created_at")


class PostNoteInline(admin.TabularInline):
    model = ReviewNote
    fk_name = "post"
    extra = 0
    fields = ("text", "reviewer", "created_at")
    readonly_fields = ("reviewer", "created_at")


class AuthorKind(admin.SimpleListFilter):
    title = "author"
    parameter_name = "author_kind"

    def lookups(self, request, model_admin):
        return [("human", "Person"), ("agent", "Agent"), ("none", "System")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(author__isnull=True)
        if self.value():
            return queryset.filter(author__kind=self.value())
        return queryset


@admin.register(Post)
class PostAdmin(FrozenOnceFinished, _SaveReviewer, admin.ModelAdmin):
    list_display = ("session", "seq", "author", "kind", "answer", "parse_status", "open_flags")
    list_filter = ("kind", "parse_status", Flagged, AuthorKind)
    list_select_related = ("session", "author")
    search_fields = ("text", "author__display_name", "session__title")
    raw_id_fields = ("session", "round", "author", "target")
    readonly_fields = ("agent_call",)
    inlines = [PostFlagInline, PostNoteInline]

    def session_of(self, post: Post) -> int:
        return post.session_id

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_open_flags=Count("flags", filter=Q(flags__resolved_at__isnull=True)))
        )

    @admin.display(description="open flags", ordering="_open_flags")
    def open_flags(self, obj):
        return obj._open_flags

    @admin.display(description="agent call")
    def agent_call(self, post):
        turn = AgentTurn.objects.filter(post=post).first()
        return agent_call_html(turn) if turn else "—"


def agent_call_html(turn: AgentTurn):
    """The exact prompt (each message's role and content, escaped), model, parameters, usage."""
    messages_html = format_html_join(
        "",
        "<details><summary>{}</summary><pre>{}</pre></details>",
        ((m.get("role", "?"), m.get("content", "")) for m in (turn.prompt or [])),
    )
    return format_html(
        "<p>model <strong>{}</strong> ({}) · parameters <code>{}</code><br>"
        "{} prompt + {} completion tokens · {} ms · ${} · status {} after {} attempt(s)</p>{}"
        "<details><summary>reply</summary><pre>{}</pre></details>",
        turn.model,
        turn.backend,
        json.dumps(turn.parameters, sort_keys=True),
        turn.prompt_tokens if turn.prompt_tokens is not None else "?",
        turn.completion_tokens if turn.completion_tokens is not None else "?",
        turn.latency_ms if turn.latency_ms is not None else "?",
        turn.cost_usd if turn.cost_usd is not None else "0",
        turn.status,
        turn.attempts,
        messages_html,
        turn.reply,
    )


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ("session", "post", "reason", "reviewer", "created_at", "resolved_at")
    list_filter = ("reason", ("resolved_at", admin.EmptyFieldListFilter))
    list_select_related = ("session", "post", "reviewer")
    search_fields = ("note", "session__title")
    raw_id_fields = ("session", "post", "resolved_by")
    readonly_fields = ("reviewer", "created_at")

    def save_model(self, request, obj, form, change):
        if obj.reviewer_id is None:
            obj.reviewer = request.user
        super().save_model(request, obj, form, change)


@admin.register(Round)
class RoundAdmin(FrozenOnceFinished, admin.ModelAdmin):
    list_display = ("session", "number", "phase", "status")
    list_select_related = ("session",)
    raw_id_fields = ("session",)
