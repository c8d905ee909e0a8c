"""Pages of debate sessions. Thin: authorise, call a service, render."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import controls, engine, services
from .forms import SessionCreateForm
from .models import DebateSession, Opinion, Participant, Post
from .outcomes import session_outcome
from .presentation import Viewer, as_seen, present_state
from .serializers import post_data


@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    sessions = (
        DebateSession.objects.filter(participants__user=request.user)
        .annotate(n_participants=Count("participants", distinct=True))
        .order_by("-created_at")
    )
    return render(request, "debates/session_list.html", {"sessions": sessions})


@login_required
@require_http_methods(["GET", "POST"])
def session_create(request: HttpRequest) -> HttpResponse:
    form = SessionCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            session = services.create_session(
                moderator=request.user,
                title=data["title"],
                question=data["question"],
                answer_format=data["answer_format"],
                options=data["options"],
                tolerance=data.get("tolerance") or 0,
                protocol=data["protocol"],
                protocol_settings=form.protocol_settings(),
                join_role=data["join_role"],
                agent_profiles=list(data["agents"]),
                judge_profile=data.get("judge"),
                passage=data.get("passage") or "",
            )
        except services.ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Session created. Share the invite link, then start it.")
            return redirect(session)
    return render(request, "debates/session_form.html", {"form": form})


@login_required
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(DebateSession, pk=pk)
    me = services.participant_for(session.pk, request.user)
    if me is None:
        # The same answer as for an id that does not exist: an outsider learns nothing.
        raise Http404("No such session, or you do not take part in it.")
    viewer = Viewer.of(me)
    all_posts = [
        post_data(p)
        for p in Post.objects.filter(session=session)
        .select_related("author", "round", "target")
        .order_by("seq")
    ]
    posts = as_seen(session, viewer, all_posts)
    state = present_state(engine.state_data(session), viewer)
    is_moderator = me.role == Participant.Role.MODERATOR
    outcome = None
    if session.status == DebateSession.Status.FINISHED or is_moderator:
        outcome = session_outcome(session)
    opinions = (
        Opinion.objects.filter(session=session)
        .select_related("participant", "round")
        .order_by("round__number", "participant__position")
        if is_moderator
        else Opinion.objects.filter(participant=me).select_related("round")
    )
    return render(
        request,
        "debates/session_detail.html",
        {
            "session": session,
            "me": me,
            "posts": posts,
            "state": state,
            "viewer_id": me.pk,
            "is_moderator": is_moderator,
            "answer_format": session.answer_format,
            "outcome": outcome,
            "opinions": opinions,
            "last_seq": posts[-1]["seq"] if posts else 0,
            "client_msg_id": uuid.uuid4().hex,
            "max_chars": settings.DELIBERATION["MAX_POST_CHARS"],
            "invite_url": request.build_absolute_uri(session.get_invite_url()),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    session = get_object_or_404(DebateSession, invite_token=token)
    existing = services.participant_for(session.pk, request.user)
    if existing:
        return redirect(session)
    if request.method == "POST":
        try:
            services.join_session(request.user, token)
        except services.ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("debates:session_list")
        return redirect(session)
    return render(request, "debates/join.html", {"session": session})


@login_required
@require_POST
def control(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    me = services.participant_for(pk, request.user)
    if me is None:
        raise PermissionDenied
    params = {
        key: request.POST[key]
        for key in ("participant_id", "seconds", "name", "value")
        if key in request.POST
    }
    try:
        controls.control(me, action, **params)
    except services.NotAllowed as exc:
        if request.headers.get("HX-Request"):
            return HttpResponse(exc.message, status=403 if exc.code == "forbidden" else 409)
        messages.error(request, exc.message)
    except services.ServiceError as exc:
        if request.headers.get("HX-Request"):
            return HttpResponse(exc.message, status=400)
        messages.error(request, exc.message)
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204)  # the new state arrives over the WebSocket
    return redirect("debates:session_detail", pk=pk)
