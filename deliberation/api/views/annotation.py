"""Annotation projects over HTTP: settings, items, imports, labels, labelling and aggregates.

Thin: parse, authorise as the pages do, call the same services. A project's owner, managers and
staff manage it (anyone else gets 404, as on the pages); any signed-in user may label in any
project, and sees only what the labelling page shows: the shown columns, never the gold or the
check flag, and others' labels only when the project is not blind.
"""

from __future__ import annotations

import json

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deliberation.annotation import importing, labelling, overview
from deliberation.annotation.aggregation import (
    METHOD_NAMES,
    aggregate_project,
    default_method,
    methods_for,
)
from deliberation.annotation.forms import ProjectForm
from deliberation.annotation.models import Annotator, ImportJob, Item, Label, Project
from deliberation.annotation.permissions import managed_project_or_404, managed_projects

from ..pagination import InOrder, NewestFirst
from ..schema import errors
from ..serializers import annotation as s
from .common import int_param, page_of, valid

TAGS = ["annotation"]

# ProjectForm field -> request field, so a form error names what the client sent.
FORM_TO_API = {"options_text": "options", "shown_fields_text": "shown_fields"}

NO_ITEM = {
    "done": "Nothing left for you: every item has its labels, or you have labelled (or "
    "skipped) every item that still needs one.",
    "gold": "No more items: your accuracy on the check items is below the project's threshold.",
    "quota": "You have labelled your share of items.",
}


def _counted(projects):
    """Projects with their number of items and labels (subqueries: no join fan-out)."""
    items = Item.objects.filter(project=OuterRef("pk")).order_by().values("project")
    labels = Label.objects.filter(item__project=OuterRef("pk")).order_by().values("item__project")
    zero = Value(0)
    return projects.annotate(
        item_count=Coalesce(
            Subquery(items.annotate(n=Count("id")).values("n"), output_field=IntegerField()), zero
        ),
        label_count=Coalesce(
            Subquery(labels.annotate(n=Count("id")).values("n"), output_field=IntegerField()), zero
        ),
    ).prefetch_related("managers", "escalation_agents")


def _project_data(project: Project) -> dict:
    return s.ProjectSerializer(
        _counted(Project.objects.filter(pk=project.pk)).select_related("owner").get()
    ).data


def _save_project(data: dict, project: Project) -> Project:
    """Save through ProjectForm, the settings page's rules; what is not sent keeps its value."""
    values = {f: getattr(project, f) for f in ProjectForm.Meta.fields if f != "escalation_agents"}
    values["escalation_agents"] = (
        list(project.escalation_agents.values_list("pk", flat=True)) if project.pk else []
    )
    values["options"], values["shown_fields"] = project.options, project.shown_fields
    values.update(data)
    values["escalation_agents"] = [getattr(a, "pk", a) for a in values["escalation_agents"]]
    values["options_text"] = "\n".join(values.pop("options"))
    values["shown_fields_text"] = "\n".join(values.pop("shown_fields"))
    form = ProjectForm(values, instance=project)
    if not form.is_valid():
        raise ValidationError(
            {
                FORM_TO_API.get(name, "non_field_errors" if name == "__all__" else name): msgs
                for name, msgs in form.errors.items()
            }
        )
    return form.save()


@extend_schema(tags=TAGS)
class ProjectList(GenericAPIView):
    pagination_class = NewestFirst
    serializer_class = s.ProjectSerializer

    def get_queryset(self):
        return _counted(managed_projects(self.request.user)).select_related("owner")

    @extend_schema(
        summary="Projects you manage (all of them for staff)",
        responses={200: s.ProjectSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        return page_of(self, self.get_queryset())

    @extend_schema(
        summary="Create a project; you are its owner",
        request=s.ProjectWriteSerializer,
        responses={201: s.ProjectSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = valid(s.ProjectWriteSerializer, request)
        project = _save_project(data, Project(owner=request.user))
        return Response(_project_data(project), status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class ProjectDetail(APIView):
    @extend_schema(
        summary="A project you manage: its settings and counts",
        responses={200: s.ProjectSerializer, **errors(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_project_data(managed_project_or_404(request.user, pk)))

    @extend_schema(
        summary="Change a project's settings (the fields sent; the same rules as on its page)",
        request=s.ProjectWriteSerializer(partial=True),
        responses={200: s.ProjectSerializer, **errors(400, 404)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        project = managed_project_or_404(request.user, pk)
        data = valid(s.ProjectWriteSerializer, request, partial=True)
        return Response(_project_data(_save_project(data, project)))


def _job_data(job: ImportJob) -> dict:
    job.progress = importing.progress(job)
    return s.ImportJobSerializer(job).data


def _row_field(error: dict) -> str:
    """An import error's place in the request: items.<index>[.<key>] (line n is items[n-1])."""
    if not error["line"]:
        return "items"
    row = f"items.{error['line'] - 1}"
    return f"{row}.{error['column']}" if error["column"] else row


@extend_schema(tags=TAGS)
class ProjectItems(GenericAPIView):
    pagination_class = InOrder
    serializer_class = s.ProjectItemSerializer
    service_error_fields = {"import": "items"}

    @extend_schema(
        summary="The project's items in import order, with gold and their number of labels",
        responses={200: s.ProjectItemSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        project = managed_project_or_404(request.user, pk)
        items = Item.objects.filter(project=project).annotate(label_count=Count("labels"))
        return page_of(self, items)

    @extend_schema(
        summary="Add items: validated like an uploaded JSONL file, every bad row reported",
        request=s.ItemsCreateSerializer,
        responses={
            201: s.ImportJobSerializer,
            202: OpenApiResponse(
                s.ImportJobSerializer,
                description="A large import queued for a worker: follow it at "
                "/projects/{id}/imports/{job_id}/.",
            ),
            **errors(400, 404),
        },
        description="201 with the finished import (in skip_bad_rows mode, its errors list the "
        "rows left out); 400 naming each bad row when nothing could be imported.",
    )
    def post(self, request: Request, pk: int) -> Response:
        project = managed_project_or_404(request.user, pk)
        data = dict(valid(s.ItemsCreateSerializer, request))
        rows = data.pop("items")
        content = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()
        job = importing.create_import(project, content, "api.jsonl", data, request.user)
        if job.status == ImportJob.Status.FAILED:
            fields: dict[str, list[str]] = {}
            for error in job.errors:
                fields.setdefault(_row_field(error), []).append(error["reason"])
            raise ValidationError(fields)
        done = job.status == ImportJob.Status.DONE
        return Response(
            _job_data(job), status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED
        )


@extend_schema(tags=TAGS)
class ProjectImport(APIView):
    @extend_schema(
        summary="An import of items: status, progress, created items and bad rows",
        responses={200: s.ImportJobSerializer, **errors(404)},
    )
    def get(self, request: Request, pk: int, job_pk: int) -> Response:
        project = managed_project_or_404(request.user, pk)
        job = ImportJob.objects.defer("content").filter(pk=job_pk, project=project).first()
        if job is None:
            raise NotFound("No such import in this project.")
        return Response(_job_data(job))


@extend_schema(tags=TAGS)
class ProjectLabels(GenericAPIView):
    pagination_class = InOrder
    serializer_class = s.ProjectLabelSerializer

    @extend_schema(
        summary="Every label of the project, oldest first, with its cost",
        responses={200: s.ProjectLabelSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        project = managed_project_or_404(request.user, pk)
        labels = Label.objects.filter(item__project=project).select_related(
            "item", "annotator__user", "annotator__agent"
        )
        return page_of(self, labels)


@extend_schema(tags=TAGS)
class ProjectAggregate(APIView):
    @extend_schema(
        summary="Consensus label per item, annotator quality, agreement and accuracy",
        parameters=[
            OpenApiParameter(
                "method",
                str,
                enum=list(METHOD_NAMES),
                description="Default: ds for choice projects, mv otherwise; numeric and free "
                "text projects offer mv and wawa only.",
            ),
            OpenApiParameter(
                "pin_gold", int, enum=[0, 1], description="1: fix check items to their gold."
            ),
        ],
        responses={200: s.AggregateSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        project = managed_project_or_404(request.user, pk)
        methods = methods_for(project)
        method = request.query_params.get("method") or default_method(project)
        if method not in methods:
            raise ValidationError(
                {
                    "method": [
                        f"{method!r} does not apply to this project; choose {', '.join(methods)}."
                    ]
                }
            )
        pin_gold = bool(int_param(request, "pin_gold", 0, 0, 1))
        result = aggregate_project(project, method, pin_gold=pin_gold)
        keys = {
            a.pk: a.label_key
            for a in Annotator.objects.filter(project=project).select_related("user", "agent")
        }
        annotators = [
            {**vars(a), "annotator": keys[a.annotator_id], "gold_accuracy": a.gold_accuracy}
            for a in result.annotators
        ]
        data = {
            "method": result.method,
            "methods": methods,
            "pin_gold": pin_gold,
            "iterations": result.iterations,
            "converged": result.converged,
            "alpha": result.alpha,
            "accuracy": result.accuracy,
            "items": result.items,
            "annotators": annotators,
        }
        return Response(s.AggregateSerializer(data).data)


# --- labelling, as a signed-in person ---------------------------------------------------------
def _labelling(request: Request, pk: int) -> tuple[Project, Annotator]:
    """Any signed-in user labels in any project, as on its labelling page."""
    project = Project.objects.filter(pk=pk).first()
    if project is None:
        raise NotFound("No such project.")
    return project, labelling.person_annotator(project, request.user)


def _item_of(project: Project, item_pk: int) -> int:
    if not Item.objects.filter(pk=item_pk, project=project).exists():
        raise NotFound("No such item in this project.")
    return item_pk


@extend_schema(tags=TAGS)
class NextAssignment(APIView):
    @extend_schema(
        summary="The next item for you to label (the same one until you label or skip it)",
        request=None,
        responses={200: s.NextItemSerializer, **errors(404)},
        description="item is null, with reason and detail saying why, when there is nothing "
        "for you to label.",
    )
    def post(self, request: Request, pk: int) -> Response:
        project, annotator = _labelling(request, pk)
        outcome = labelling.next_assignment(annotator)
        item = None
        if outcome.assignment is not None:
            held = outcome.assignment.item
            others = []
            if project.show_others_labels:
                others = held.labels.exclude(annotator=annotator).select_related("annotator")
            item = {
                "id": held.pk,
                "external_id": held.external_id,
                "fields": [
                    {"name": n, "value": v} for n, v in overview.shown_fields(project, held)
                ],
                "others": list(others),
                "expires_at": outcome.assignment.expires_at,
            }
        data = {
            "item": item,
            "reason": outcome.reason,
            "detail": NO_ITEM.get(outcome.reason, ""),
            "progress": labelling.progress(annotator),
            "project": project,
        }
        return Response(s.NextItemSerializer(data).data)


@extend_schema(tags=TAGS)
class ItemLabel(APIView):
    service_error_fields = {"label": "value"}

    @extend_schema(
        summary="Label an item assigned to you",
        request=s.LabelCreateSerializer,
        responses={
            201: s.ProjectLabelSerializer,
            200: s.ProjectLabelSerializer,
            **errors(400, 404, 409),
        },
        description="201 with the stored label; 200 with the first label when the item was "
        "already labelled by you (a retry never labels twice). 409 when the item is not "
        "assigned to you or you skipped it.",
    )
    def post(self, request: Request, pk: int, item_pk: int) -> Response:
        project, annotator = _labelling(request, pk)
        item_id = _item_of(project, item_pk)
        data = valid(s.LabelCreateSerializer, request)
        before = Label.objects.filter(item_id=item_id, annotator=annotator).exists()
        label = labelling.submit_label(
            annotator,
            item_id,
            data["value"],
            confidence=data.get("confidence"),
            seconds_spent=data.get("seconds_spent"),
        )
        label = Label.objects.select_related("item", "annotator__user").get(pk=label.pk)
        return Response(
            s.ProjectLabelSerializer(label).data,
            status=status.HTTP_200_OK if before else status.HTTP_201_CREATED,
        )


@extend_schema(tags=TAGS)
class ItemSkip(APIView):
    @extend_schema(
        summary="Give back an item assigned to you; you are never given it again",
        request=None,
        responses={204: None, **errors(404, 409)},
    )
    def post(self, request: Request, pk: int, item_pk: int) -> Response:
        project, annotator = _labelling(request, pk)
        labelling.skip(annotator, _item_of(project, item_pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
