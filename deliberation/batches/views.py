"""Batch run pages. Thin: authorise, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from deliberation.protocols.registry import get_protocol

from . import services
from .forms import BatchRunForm
from .models import BatchRun

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _runs_for(user):
    runs = BatchRun.objects.all()
    return runs if user.is_staff else runs.filter(created_by=user)


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    return render(request, "batches/run_list.html", {"runs": _runs_for(request.user)[:200]})


@login_required
@require_http_methods(["GET", "POST"])
def run_create(request: HttpRequest) -> HttpResponse:
    form = BatchRunForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = data["questions"]
        try:
            if upload.size > MAX_UPLOAD_BYTES:
                raise services.BatchError("The question file is larger than 20 MB.")
            questions = services.parse_questions(upload.read(), upload.name, data["answer_format"])
            settings = {}
            protocol = get_protocol(data["protocol"])
            if data.get("rounds") and any(s.name == "rounds" for s in protocol.all_settings):
                settings["rounds"] = data["rounds"]
            run = services.create_run(
                user=request.user,
                name=data["name"],
                questions=questions,
                protocol=data["protocol"],
                agents=list(data["agents"]),
                judge=data.get("judge"),
                protocol_settings=settings,
                answer_format=data["answer_format"],
                concurrency=data["concurrency"],
            )
        except services.BatchError as exc:
            form.add_error(None, exc.message)
            problems = exc.problems
        else:
            services.start_run(run)
            messages.success(request, f"Started {run.items.count()} sessions.")
            return redirect(run)
    return render(request, "batches/run_form.html", {"form": form, "problems": problems})


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs_for(request.user), pk=pk)
    context = {"run": run, "progress": services.progress(run), "table": services.run_table(run)}
    if request.headers.get("HX-Request"):
        return render(request, "batches/_progress.html", context)
    return render(request, "batches/run_detail.html", context)


@login_required
@require_POST
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs_for(request.user), pk=pk)
    counts = services.resume_run(run)
    messages.success(
        request,
        f"Resumed: {counts['resumed_sessions']} sessions picked up, "
        f"{counts['requeued_turns']} agent turns requeued, {counts['started']} questions started.",
    )
    return redirect(run)
