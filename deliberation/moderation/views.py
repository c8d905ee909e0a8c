"""Moderation pages. Thin: authorise, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deliberation.debates.models import DebateSession
from deliberation.debates.services import ServiceError

from . import live, services
from .charts import panel_context
from .forms import DecisionForm


def _session_for(request: HttpRequest, pk: int) -> DebateSession:
    session = get_object_or_404(DebateSession, pk=pk)
    if not services.can_moderate(request.user, session):
        if not session.participants.filter(user=request.user).exists():
            # Someone outside the session learns nothing, not even that the id exists.
            raise Http404("No such session.")
        raise PermissionDenied("Only the session's moderator or staff can open this page.")
    return session


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    return render(request, "moderation/queue.html", {"entries": services.queue(request.user)})


@login_required
def session_view(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session_for(request, pk)
    metrics = live.get_metrics(session)
    return _render_session(
        request,
        session,
        metrics,
        DecisionForm(
            session=session,
            initial={
                "answer": metrics.get("final_label") or "",
            },
        ),
    )


def _render_session(request, session, metrics, form) -> HttpResponse:
    revisions = services.revisions(session)
    current = revisions[0] if revisions else None
    return render(
        request,
        "moderation/session.html",
        {
            "session": session,
            **panel_context(metrics),
            "revisions": revisions,
            "current": current,
            "form": form,
        },
    )


@login_required
def metrics_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(live.get_metrics(_session_for(request, pk)))


@login_required
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session_for(request, pk)
    form = DecisionForm(request.POST, session=session)
    if form.is_valid():
        try:
            services.decide(
                session,
                request.user,
                answer=form.cleaned_data["answer"],
                rationale=form.cleaned_data["rationale"],
                post_seqs=form.cleaned_data["posts"],
                reason=form.cleaned_data.get("reason") or "",
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Decision recorded.")
            return redirect("moderation:session", pk=session.pk)
    return _render_session(request, session, live.get_metrics(session), form)


@login_required
@require_POST
def publish(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session_for(request, pk)
    try:
        services.publish(session, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Published: participants now see the final answer.")
    return redirect("moderation:session", pk=session.pk)
