"""Pages of debate sessions. Thin: authorise, call a service, render."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import engine, services
from .forms import SessionCreateForm
from .models import DebateSession, Post
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
                protocol_settings={"rounds": data["rounds"]},
                join_role=data["join_role"],
                agent_profiles=list(data["agents"]),
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
        raise PermissionDenied("Only participants can open this session; ask for its invite link.")
    posts = [
        post_data(p)
        for p in Post.objects.filter(session=session)
        .select_related("author", "round")
        .order_by("seq")
    ]
    state = engine.state_data(session)
    return render(
        request,
        "debates/session_detail.html",
        {
            "session": session,
            "me": me,
            "posts": posts,
            "state": state,
            "viewer_id": me.pk,
            "is_moderator": me.role == "moderator",
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
    try:
        services.control(me, action)
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
