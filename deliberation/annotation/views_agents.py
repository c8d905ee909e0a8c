"""Agent labelling runs and the adjudication queue. Thin: authorise (managers only), call a
service, render."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from deliberation.agents.models import AgentProfile
from deliberation.debates.services import ServiceError
from deliberation.moderation.services import published_revision
from deliberation.protocols.registry import protocol_choices

from . import agent_runs, escalation
from .disputes import item_agreement
from .labelling import InvalidLabel, disputed_item_ids
from .models import AgentLabelRun, Item, Label
from .overview import shown_fields
from .permissions import managed_project_or_404

QUEUE_LIMIT = 200


class AgentRunForm(forms.Form):
    profiles = forms.ModelMultipleChoiceField(
        label="Agent profiles",
        queryset=AgentProfile.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Each labels every item once.",
    )
    concurrency = forms.IntegerField(
        min_value=1,
        max_value=agent_runs.MAX_CONCURRENCY,
        initial=4,
        help_text="How many labelling calls run at the same time.",
    )


class EscalateForm(forms.Form):
    protocol = forms.ChoiceField(choices=protocol_choices)
    agents = forms.ModelMultipleChoiceField(
        queryset=AgentProfile.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )


# --- agent runs -------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def agent_run_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    form = AgentRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = agent_runs.start_run(
                project,
                list(form.cleaned_data["profiles"]),
                form.cleaned_data["concurrency"],
                request.user,
            )
        except agent_runs.RunError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Started: {run.total} labels to collect.")
            return redirect("annotation:agent_run_detail", pk=project.pk, run_pk=run.pk)
    runs = project.agent_runs.prefetch_related("profiles")[:50]
    return render(
        request, "annotation/agents/run_form.html", {"project": project, "form": form, "runs": runs}
    )


def _run_or_404(request: HttpRequest, pk: int, run_pk: int):
    project = managed_project_or_404(request.user, pk)
    return project, get_object_or_404(AgentLabelRun, pk=run_pk, project=project)


@login_required
def agent_run_detail(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    project, run = _run_or_404(request, pk, run_pk)
    context = {
        "project": project,
        "run": run,
        "progress": agent_runs.progress(run),
        "profiles": run.profiles.all(),
    }
    if request.headers.get("HX-Request"):
        return render(request, "annotation/agents/_progress.html", context)
    return render(request, "annotation/agents/run_detail.html", context)


@login_required
@require_POST
def agent_run_pause(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    project, run = _run_or_404(request, pk, run_pk)
    agent_runs.pause_run(run)
    messages.success(request, "Paused: the lanes stop after the label they are working on.")
    return redirect("annotation:agent_run_detail", pk=project.pk, run_pk=run.pk)


@login_required
@require_POST
def agent_run_resume(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    project, run = _run_or_404(request, pk, run_pk)
    agent_runs.resume_run(run)
    messages.success(request, "Resumed: stored labels are kept, failed items are tried again.")
    return redirect("annotation:agent_run_detail", pk=project.pk, run_pk=run.pk)


# --- adjudication -----------------------------------------------------------------------------
def _entry(item: Item, labels: list[Label]) -> dict:
    project = item.project
    agreement = item_agreement(
        [label.value for label in labels], project.label_format, project.tolerance
    )
    session = item.escalation
    return {
        "item": item,
        "fields": shown_fields(project, item),
        "labels": labels,
        "agreement": agreement.top_share,
        "session": session,
        "decision": published_revision(session) if session is not None else None,
    }


@login_required
def adjudication_queue(request: HttpRequest, pk: int) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    disputed = disputed_item_ids(project)[:QUEUE_LIMIT]
    escalated = list(
        project.items.filter(escalation__isnull=False)
        .exclude(pk__in=disputed)
        .values_list("pk", flat=True)[:QUEUE_LIMIT]
    )
    items = {
        i.pk: i
        for i in Item.objects.filter(pk__in=[*disputed, *escalated]).select_related(
            "project", "escalation", "final_by"
        )
    }
    labels: dict[int, list[Label]] = {}
    for label in (
        Label.objects.filter(item_id__in=items)
        .select_related("annotator__user", "annotator__agent")
        .order_by("item_id", "id")
    ):
        labels.setdefault(label.item_id, []).append(label)
    context = {
        "project": project,
        "disputed": [_entry(items[i], labels.get(i, [])) for i in disputed],
        "escalated": [_entry(items[i], labels.get(i, [])) for i in escalated],
        "protocols": protocol_choices(),
        "profiles": AgentProfile.objects.all(),
        "default_agents": set(project.escalation_agents.values_list("pk", flat=True)),
    }
    return render(request, "annotation/adjudication/queue.html", context)


@login_required
@require_POST
def escalate(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    item = get_object_or_404(Item.objects.select_related("project"), pk=item_pk, project=project)
    form = EscalateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a protocol and agents from the lists.")
        return redirect("annotation:adjudication_queue", pk=project.pk)
    try:
        session = escalation.escalate(
            item,
            request.user,
            protocol=form.cleaned_data["protocol"],
            agents=list(form.cleaned_data["agents"]),
        )
    except escalation.EscalationError as exc:
        messages.error(request, str(exc))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Item {item.external_id} escalated to a deliberation.")
        return redirect(session)
    return redirect("annotation:adjudication_queue", pk=project.pk)


@login_required
@require_POST
def decide_item(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    item = get_object_or_404(Item.objects.select_related("project"), pk=item_pk, project=project)
    if project.label_format == project.LabelFormat.MULTIPLE_CHOICE:
        value = request.POST.getlist("value")
    else:
        value = request.POST.get("value", "")
    try:
        escalation.set_final_label(item, value, request.POST.get("rationale", ""), request.user)
    except (InvalidLabel, escalation.EscalationError) as exc:
        messages.error(request, f"Item {item.external_id}: {exc}")
    else:
        messages.success(request, f"Item {item.external_id} decided.")
    return redirect("annotation:adjudication_queue", pk=project.pk)
