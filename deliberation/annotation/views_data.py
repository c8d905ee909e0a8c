"""Import and export pages of a project (managers only). Thin: authorise, call a service."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from deliberation.streaming import download

from . import exporting, importing
from .aggregation import default_method
from .models import ImportJob
from .permissions import managed_project_or_404


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV (a header row, any columns) or JSONL (one object a line)."
    )
    id_column = forms.CharField(initial="id", help_text="Without it, the line number is the id.")
    gold_column = forms.CharField(required=False, help_text="Optional: the gold label's column.")
    check_column = forms.CharField(
        required=False, help_text="Optional: a column marking check items (1, true, yes, x)."
    )
    mode = forms.ChoiceField(
        choices=[
            ("all_or_nothing", "All or nothing: one bad row imports nothing"),
            ("skip_bad_rows", "Import the good rows, report the bad ones"),
        ]
    )


@login_required
@require_http_methods(["GET", "POST"])
def import_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > importing.max_import_bytes():
            form.add_error("file", "The file is larger than the import limit.")
        else:
            options = {
                k: form.cleaned_data[k]
                for k in ("id_column", "gold_column", "check_column", "mode")
            }
            try:
                job = importing.create_import(
                    project, upload.read(), upload.name, options, request.user
                )
            except importing.ImportProblem as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("annotation:import_detail", pk=project.pk, job_pk=job.pk)
    jobs = project.imports.defer("content")[:20]
    return render(
        request,
        "annotation/data/import_form.html",
        {"project": project, "form": form, "jobs": jobs},
    )


@login_required
def import_detail(request: HttpRequest, pk: int, job_pk: int) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=job_pk, project=project)
    context = {"project": project, "job": job, "progress": importing.progress(job)}
    if request.headers.get("HX-Request"):
        return render(request, "annotation/data/_import_status.html", context)
    return render(request, "annotation/data/import_detail.html", context)


@login_required
def export(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    project = managed_project_or_404(request.user, pk)
    if kind not in exporting.EXPORTS:
        raise Http404("No such export.")
    content_type, filename = exporting.EXPORTS[kind]
    if kind == "labels_csv":
        body = exporting.labels_csv(project)
    elif kind == "aggregated_csv":
        method = request.GET.get("method") or default_method(project)
        try:
            body = exporting.aggregated_csv(project, method)
        except ValueError as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain")
    else:
        body = exporting.items_jsonl(project)
    return download(
        request, body, f"{content_type}; charset=utf-8", f"project-{project.pk}-{filename}"
    )
