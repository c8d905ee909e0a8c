"""Project pages and the labelling page. Thin: authorise, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from . import labelling, overview
from .aggregation import METHOD_NAMES, aggregate_project, default_method, methods_for
from .forms import ProjectForm
from .models import Annotator, Item, Project
from .permissions import NotAllowed, managed_project_or_404, managed_projects

CROWD_SESSION_KEY = "annotation-crowd"


# --- projects ---------------------------------------------------------------------------------
@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    managed = managed_projects(request.user).annotate(n_items=Count("items", distinct=True))
    labelling_in = Project.objects.filter(
        annotators__kind="person", annotators__user=request.user
    ).exclude(pk__in=managed.values("pk"))
    return render(
        request,
        "annotation/project_list.html",
        {"managed": managed[:200], "labelling_in": labelling_in[:200]},
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.instance.owner = request.user
        project = form.save()
        messages.success(request, "Project created. Import its items next.")
        return redirect("annotation:project_detail", pk=project.pk)
    return render(request, "annotation/project_form.html", {"form": form, "project": None})


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, pk: int) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("annotation:project_detail", pk=project.pk)
    return render(request, "annotation/project_form.html", {"form": form, "project": project})


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    methods = methods_for(project)
    method = request.GET.get("method") or default_method(project)
    if method not in methods:
        method = default_method(project)
    pin_gold = request.GET.get("pin_gold") == "1"
    result = aggregate_project(project, method, pin_gold=pin_gold)
    page = Paginator(result.items, 50).get_page(request.GET.get("page"))
    crowd_link = request.build_absolute_uri(
        reverse("annotation:crowd_join", args=[project.crowd_token])
    )
    return render(
        request,
        "annotation/project_detail.html",
        {
            "project": project,
            "result": result,
            "page": page,
            "method": method,
            "methods": [(m, METHOD_NAMES[m]) for m in methods],
            "pin_gold": pin_gold,
            "stats": overview.project_stats(project, result),
            "needs_labels": overview.items_needing_labels(project),
            "needs_decision": overview.items_needing_decision(project, result),
            "label_link": request.build_absolute_uri(
                reverse("annotation:label_next", args=[project.pk])
            ),
            "crowd_link": f"{crowd_link}?worker_id=WORKER_ID",
        },
    )


# --- labelling --------------------------------------------------------------------------------
def _annotator(request: HttpRequest, project: Project) -> Annotator | None:
    """The crowd worker of this browser session for the project, else the signed-in person."""
    crowd = request.session.get(CROWD_SESSION_KEY, {}).get(str(project.pk))
    if crowd:
        annotator = Annotator.objects.filter(pk=crowd, project=project, kind="crowd").first()
        if annotator is not None:
            return annotator
    if request.user.is_authenticated:
        return labelling.person_annotator(project, request.user)
    return None


def _labelling_project(request: HttpRequest, pk: int) -> tuple[Project, Annotator]:
    project = get_object_or_404(Project, pk=pk)
    annotator = _annotator(request, project)
    if annotator is None:
        raise _LoginNeeded
    return project, annotator


class _LoginNeeded(Exception):
    pass


def _login_redirect(request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse('login')}?next={request.path}")


@require_http_methods(["GET"])
def label_next(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        project, annotator = _labelling_project(request, pk)
    except _LoginNeeded:
        return _login_redirect(request)
    outcome = labelling.next_assignment(annotator)
    if outcome.assignment is None:
        return _finished(request, project, annotator, outcome.reason)
    return _label_page(request, project, annotator, outcome.assignment.item)


def _label_page(request, project, annotator, item, *, error="", previous=None, status=200):
    others = []
    if project.show_others_labels:
        others = list(
            item.labels.exclude(annotator=annotator).select_related("annotator").order_by("id")
        )
    fields = overview.shown_fields(project, item)
    return render(
        request,
        "annotation/label.html",
        {
            "project": project,
            "annotator": annotator,
            "item": item,
            "fields": fields,
            "others": others,
            "progress": labelling.progress(annotator),
            "error": error,
            "previous": previous or {},
            "options": list(enumerate(project.options, start=1)),
        },
        status=status,
    )


def _finished(request, project, annotator, reason: str) -> HttpResponse:
    code = ""
    if annotator.kind == Annotator.Kind.CROWD and reason in ("quota", "done"):
        code = labelling.finish_crowd_work(annotator)
    return render(
        request,
        "annotation/label_done.html",
        {
            "project": project,
            "annotator": annotator,
            "reason": reason,
            "code": code,
            "progress": labelling.progress(annotator),
            "gold": labelling.gold_score(annotator),
        },
    )


@require_POST
def label_submit(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    try:
        project, annotator = _labelling_project(request, pk)
    except _LoginNeeded:
        return _login_redirect(request)
    item = get_object_or_404(Item, pk=item_pk, project=project)
    if project.label_format == "multiple_choice":
        value = request.POST.getlist("value")
    else:
        value = request.POST.get("value", "")
    try:
        labelling.submit_label(
            annotator,
            item.pk,
            value,
            confidence=request.POST.get("confidence"),
            seconds_spent=request.POST.get("seconds"),
        )
    except (labelling.InvalidLabel, NotAllowed) as exc:
        previous = {"value": value, "confidence": request.POST.get("confidence", "")}
        return _label_page(
            request, project, annotator, item, error=str(exc), previous=previous, status=422
        )
    return redirect("annotation:label_next", pk=project.pk)


@require_POST
def label_skip(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    try:
        project, annotator = _labelling_project(request, pk)
    except _LoginNeeded:
        return _login_redirect(request)
    try:
        labelling.skip(annotator, item_pk)
    except NotAllowed as exc:
        messages.error(request, str(exc))
    return redirect("annotation:label_next", pk=project.pk)


WORKER_ID_PARAMETERS = ("worker_id", "workerId", "PROLIFIC_PID", "participant_id")


def crowd_join(request: HttpRequest, token: str) -> HttpResponse:
    """A crowd marketplace's link: ``?worker_id=...`` (also ``workerId``, ``PROLIFIC_PID``)."""
    project = Project.objects.filter(crowd_token=token).first()
    if project is None:
        raise Http404("No such project.")
    worker_id = next((request.GET[p] for p in WORKER_ID_PARAMETERS if request.GET.get(p)), "")
    try:
        with transaction.atomic():
            annotator = labelling.crowd_annotator(project, worker_id)
    except NotAllowed as exc:
        return render(
            request,
            "annotation/crowd_error.html",
            {"project": project, "error": str(exc)},
            status=400,
        )
    crowd = dict(request.session.get(CROWD_SESSION_KEY, {}))
    crowd[str(project.pk)] = annotator.pk
    request.session[CROWD_SESSION_KEY] = crowd
    return redirect("annotation:label_next", pk=project.pk)
