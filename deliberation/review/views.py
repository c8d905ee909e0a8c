"""The transcript replay (staff): step through a session post by post, with the moderator's
metrics as they stood right after each post (the same code as the live moderator view)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from deliberation.agents.models import AgentTurn
from deliberation.debates.models import DebateSession, Post
from deliberation.moderation.charts import panel_context
from deliberation.moderation.metrics import session_metrics


@staff_member_required
def replay(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(DebateSession, pk=pk)
    last = Post.objects.filter(session=session).aggregate(m=Max("seq"))["m"] or 0
    try:
        at = int(request.GET.get("at", last))
    except ValueError:
        at = last
    at = max(0, min(at, last))
    posts = list(
        Post.objects.filter(session=session, seq__lte=at)
        .select_related("author", "round", "target")
        .prefetch_related("flags")
        .order_by("seq")
    )
    current = posts[-1] if posts and posts[-1].seq == at else None
    turn = None
    if current is not None:
        turn = AgentTurn.objects.filter(post=current).first()
    seqs = [p.seq for p in posts]
    previous = seqs[-2] if len(seqs) >= 2 else (0 if seqs else None)
    following = (
        Post.objects.filter(session=session, seq__gt=at)
        .order_by("seq")
        .values_list("seq", flat=True)
    ).first()
    return render(
        request,
        "review/replay.html",
        {
            "session": session,
            "posts": posts,
            "at": at,
            "last": last,
            "current": current,
            "turn": turn,
            "previous": previous,
            "next": following,
            **panel_context(session_metrics(session, upto_seq=at)),
        },
    )
