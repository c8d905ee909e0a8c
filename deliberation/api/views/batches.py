"""Batch runs over HTTP: launch one, follow its progress and accuracy table, resume it."""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deliberation.batches import services
from deliberation.batches.models import BatchRun

from ..pagination import InOrder, NewestFirst
from ..schema import errors
from ..serializers import batches as s
from .common import page_of, valid


def _runs(request: Request):
    """As on the pages: your own runs, every run for staff."""
    runs = BatchRun.objects.all()
    return runs if request.user.is_staff else runs.filter(created_by=request.user)


def _run(request: Request, pk: int) -> BatchRun:
    run = _runs(request).filter(pk=pk).first()
    if run is None:
        raise NotFound("No such batch run (or it is not yours).")
    return run


def run_detail(run: BatchRun) -> dict:
    run.progress = services.progress(run)
    run.table = services.run_table(run)
    return s.BatchDetailSerializer(run).data


@extend_schema(tags=["batches"])
class BatchList(GenericAPIView):
    pagination_class = NewestFirst
    serializer_class = s.BatchSerializer

    def get_queryset(self):
        return _runs(self.request)

    @extend_schema(
        summary="Your batch runs", responses={200: s.BatchSerializer(many=True), **errors(400)}
    )
    def get(self, request: Request) -> Response:
        return page_of(self, self.get_queryset())

    @extend_schema(
        summary="Launch a batch run: one agents-only session per question, in Celery",
        request=s.BatchCreateSerializer,
        responses={201: s.BatchDetailSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = valid(s.BatchCreateSerializer, request)
        # The same reader as uploaded files, so every bad question is reported by number.
        lines = "\n".join(json.dumps(q) for q in data["questions"])
        try:
            questions = services.parse_questions(lines, "api.jsonl", data["answer_format"])
        except services.BatchError as exc:
            raise ValidationError(
                {"questions": [_question_problem(p) for p in exc.problems] or [exc.message]}
            ) from None
        run = services.create_run(
            user=request.user,
            name=data["name"],
            questions=questions,
            protocol=data["protocol"],
            agents=data["agents"],
            judge=data.get("judge"),
            protocol_settings=data["settings"],
            answer_format=data["answer_format"],
            tolerance=data["tolerance"],
            concurrency=data["concurrency"],
        )
        services.start_run(run)
        run.refresh_from_db()
        return Response(run_detail(run), status=status.HTTP_201_CREATED)


def _question_problem(problem: str) -> str:
    """'line 3: the question is empty' -> 'questions[2]: the question is empty'."""
    head, _, rest = problem.partition(": ")
    if head.startswith("line ") and head[5:].isdigit():
        return f"questions[{int(head[5:]) - 1}]: {rest}"
    return problem


@extend_schema(tags=["batches"])
class BatchDetail(APIView):
    @extend_schema(
        summary="A batch run: status, progress and accuracy per round and per rule",
        responses={200: s.BatchDetailSerializer, **errors(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(run_detail(_run(request, pk)))


@extend_schema(tags=["batches"])
class BatchItems(GenericAPIView):
    serializer_class = s.BatchItemSerializer
    pagination_class = InOrder

    @extend_schema(
        summary="The run's questions with their session, status and per-item result",
        responses={200: s.BatchItemSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        run = _run(request, pk)
        return page_of(self, run.items.all())


@extend_schema(tags=["batches"])
class BatchResume(APIView):
    @extend_schema(
        summary="Resume after a crash: pick up open sessions, requeue turns, start the rest",
        request=None,
        responses={200: s.ResumeSerializer, **errors(404)},
    )
    def post(self, request: Request, pk: int) -> Response:
        return Response(services.resume_run(_run(request, pk)))
