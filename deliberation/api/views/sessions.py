"""Sessions over HTTP: create, join, control, post, read the transcript, metrics, adjudicate.

Thin: parse, authorise as the pages do, call the same services. Visibility is the viewer's:
a debater reads sealed answers as placeholders and, under anonymity, aliases instead of names.
"""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deliberation.debates import controls, engine, services
from deliberation.debates.models import DebateSession, Opinion, Participant, Post
from deliberation.debates.presentation import Viewer, as_seen, present, present_state
from deliberation.debates.serializers import participant_data, post_data
from deliberation.moderation import live
from deliberation.moderation import services as moderation
from deliberation.protocols.registry import PROTOCOLS

from ..pagination import NewestFirst
from ..schema import errors
from ..serializers import sessions as s
from .common import int_param, page_of, valid

MAX_PAGE = 1000

# Service error codes -> the request field at fault.
SESSION_FIELDS = {
    "answer_format": "answer_format",
    "join_role": "join_role",
    "options": "options",
    "tolerance": "tolerance",
    "gold_answer": "gold_answer",
    "passage": "passage",
    "protocol_settings": "settings",
}
POST_FIELDS = {
    "empty": "text",
    "too_long": "text",
    "answer": "answer",
    "confidence": "confidence",
    "score": "score",
}


def _access(request: Request, pk: int) -> tuple[DebateSession, Participant | None]:
    """The session and the requester's participation; staff see every session."""
    session = DebateSession.objects.filter(pk=pk).first()
    me = services.participant_for(pk, request.user) if session else None
    if session is None or (me is None and not request.user.is_staff):
        raise NotFound("No such session (or you do not take part in it).")
    return session, me


def _participant(request: Request, pk: int) -> Participant:
    _, me = _access(request, pk)
    if me is None:
        raise PermissionDenied("Join the session first (POST /sessions/join/).")
    return me


def _viewer(me: Participant | None) -> Viewer:
    # Staff outside the session read it as its moderator would (as in the admin).
    return Viewer.of(me) if me else Viewer(0, Participant.Role.MODERATOR, False)


def _moderated(request: Request, pk: int) -> DebateSession:
    session, _ = _access(request, pk)
    if not moderation.can_moderate(request.user, session):
        raise PermissionDenied("Only the session's moderator or staff can do this.")
    return session


def session_detail(session: DebateSession, me: Participant | None) -> dict:
    """The session as ``me`` sees it (moderators also get the invite token and gold)."""
    viewer = _viewer(me)
    moderating = viewer.role == Participant.Role.MODERATOR
    data = {f: getattr(session, f, None) for f in s.SessionDetailSerializer.Meta.fields}
    data.update(
        protocol_settings=session.protocol_settings,
        gold_answer=session.gold_answer if moderating else None,
        invite_token=session.invite_token if moderating else None,
        me=participant_data(me),
        state=present_state(engine.state_data(session), viewer),
    )
    return s.SessionDetailSerializer(data).data


@extend_schema(tags=["protocols"])
class ProtocolList(APIView):
    @extend_schema(
        summary="Protocols and their settings",
        responses={200: s.ProtocolSerializer(many=True), **errors()},
    )
    def get(self, request: Request) -> Response:
        return Response(s.ProtocolSerializer(list(PROTOCOLS.values()), many=True).data)


@extend_schema(tags=["sessions"])
class SessionList(GenericAPIView):
    pagination_class = NewestFirst
    serializer_class = s.SessionSummarySerializer
    service_error_fields = SESSION_FIELDS

    def get_queryset(self):
        mine = Participant.objects.filter(session=OuterRef("pk"), user=self.request.user)
        return (
            DebateSession.objects.filter(participants__user=self.request.user)
            .annotate(my_role=Subquery(mine.values("role")[:1]))
            .distinct()
        )

    @extend_schema(
        summary="Sessions you take part in",
        responses={200: s.SessionSummarySerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        return page_of(self, self.get_queryset())

    @extend_schema(
        summary="Create a draft session; you are its moderator",
        request=s.SessionCreateSerializer,
        responses={201: s.SessionDetailSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = valid(s.SessionCreateSerializer, request)
        session = services.create_session(
            moderator=request.user,
            title=data["title"],
            question=data["question"],
            answer_format=data["answer_format"],
            options=data["options"],
            tolerance=data["tolerance"],
            gold_answer=data.get("gold_answer"),
            protocol=data["protocol"],
            protocol_settings=data["settings"],
            join_role=data["join_role"],
            agent_profiles=data["agents"],
            judge_profile=data.get("judge"),
            passage=data.get("passage") or "",
        )
        me = services.participant_for(session.pk, request.user)
        return Response(session_detail(session, me), status=status.HTTP_201_CREATED)


@extend_schema(tags=["sessions"])
class SessionDetail(APIView):
    @extend_schema(
        summary="A session, its live state and (once finished) its outcome",
        responses={200: s.SessionDetailSerializer, **errors(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        session, me = _access(request, pk)
        return Response(session_detail(session, me))


@extend_schema(tags=["sessions"])
class SessionJoin(APIView):
    service_error_fields = {"bad_invite": "invite_token"}

    @extend_schema(
        summary="Join a session with its invite token (joining twice is harmless)",
        request=s.JoinSerializer,
        responses={200: s.SessionDetailSerializer, **errors(400, 409)},
    )
    def post(self, request: Request) -> Response:
        data = valid(s.JoinSerializer, request)
        me = services.join_session(request.user, data["invite_token"])
        return Response(session_detail(me.session, me))


@extend_schema(tags=["sessions"])
class SessionControl(APIView):
    service_error_fields = {
        "unknown_action": "action",
        "participant": "participant_id",
        "seconds": "seconds",
        "name": "name",
        "value": "value",
    }

    @extend_schema(
        summary="A moderator action: start, pause, resume, advance, end, extend, skip, set",
        request=s.ControlSerializer,
        responses={200: s.SessionDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        me = _participant(request, pk)
        data = dict(valid(s.ControlSerializer, request))
        session = controls.control(me, data.pop("action"), **data)
        return Response(session_detail(session, me))


@extend_schema(tags=["sessions"])
class SessionPosts(APIView):
    service_error_fields = POST_FIELDS

    @extend_schema(
        summary="The transcript as you may see it, in order",
        parameters=[
            OpenApiParameter("after", int, description="Only posts with a higher seq."),
            OpenApiParameter("limit", int, description=f"At most this many (1-{MAX_PAGE})."),
        ],
        responses={200: s.TranscriptSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        session, me = _access(request, pk)
        after = int_param(request, "after", 0, 0, 2**31 - 1)
        limit = int_param(request, "limit", MAX_PAGE, 1, MAX_PAGE)
        rows = list(
            Post.objects.filter(session=session, seq__gt=after)
            .select_related("author", "round", "target")
            .order_by("seq")[: limit + 1]
        )
        more = len(rows) > limit
        posts = [post_data(p) for p in rows[:limit]]
        return Response(
            {
                "results": as_seen(session, _viewer(me), posts),
                "last_seq": services.last_seq(session.pk),
                "next_after": posts[-1]["seq"] if more else None,
            }
        )

    @extend_schema(
        summary="Post an argument (or, as moderator, a note) when the protocol lets you",
        request=s.PostCreateSerializer,
        responses={
            201: s.PostSerializer,
            200: s.PostSerializer,
            **errors(400, 403, 404, 409),
        },
        description="201 with the stored post; 200 when a retry with the same client_msg_id "
        "returns the post stored the first time.",
    )
    def post(self, request: Request, pk: int) -> Response:
        me = _participant(request, pk)
        data = valid(s.PostCreateSerializer, request)
        result = services.submit_post(
            me,
            data["text"],
            client_msg_id=data.get("client_msg_id"),
            answer=data.get("answer"),
            confidence=data.get("confidence"),
            score=data.get("score"),
            target_id=data.get("target_id"),
        )
        post = Post.objects.select_related("author", "round", "target").get(pk=result.post.pk)
        return Response(
            present(post_data(post), _viewer(me)),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


@extend_schema(tags=["sessions"])
class SessionOpinions(APIView):
    service_error_fields = {"answer": "answer", "confidence": "confidence", "too_long": "note"}

    @extend_schema(
        summary="Private opinions: yours, or everyone's for the moderator",
        responses={200: s.OpinionSerializer(many=True), **errors(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        session, me = _access(request, pk)
        qs = Opinion.objects.filter(session=session).select_related("round")
        if not moderation.can_moderate(request.user, session):
            qs = qs.filter(participant=me)
        qs = qs.order_by("round__number", "participant__position", "id")
        return Response(s.OpinionSerializer(qs, many=True).data)

    @extend_schema(
        summary="Report (or correct) your private opinion for the current round",
        request=s.OpinionCreateSerializer,
        responses={201: s.OpinionSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        me = _participant(request, pk)
        data = valid(s.OpinionCreateSerializer, request)
        opinion = services.submit_opinion(
            me,
            answer=data["answer"],
            confidence=data.get("confidence"),
            note=data.get("note", ""),
        )
        return Response(s.OpinionSerializer(opinion).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["sessions"])
class SessionMetrics(APIView):
    @extend_schema(
        summary="Consensus metrics (moderator or staff): agreement, entropy, kappa, alpha, "
        "rules, opinion shifts, cost",
        responses={200: dict, **errors(403, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(live.get_metrics(_moderated(request, pk)))


def _adjudication(session: DebateSession, *, full: bool) -> dict:
    revisions = moderation.revisions(session)
    current = revisions[0] if revisions else None
    published_at = current.adjudication.published_at if current else None
    if not full:  # participants see the decision once it is published, without its history
        current = current if published_at else None
        revisions = [current] if current else []
    return s.AdjudicationSerializer(
        {
            "published": published_at is not None,
            "published_at": published_at,
            "current": current,
            "revisions": revisions,
        }
    ).data


@extend_schema(tags=["adjudication"])
class SessionAdjudication(APIView):
    service_error_fields = {
        "rationale": "rationale",
        "too_long": "rationale",
        "answer": "answer",
        "posts": "posts",
        "reason": "reason",
    }

    @extend_schema(
        summary="The adjudicated answer and its audit trail",
        responses={200: s.AdjudicationSerializer, **errors(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        session, _ = _access(request, pk)
        return Response(_adjudication(session, full=moderation.can_moderate(request.user, session)))

    @extend_schema(
        summary="Decide the final answer, or revise it (with a reason)",
        request=s.DecisionCreateSerializer,
        responses={201: s.AdjudicationSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        session = _moderated(request, pk)
        data = valid(s.DecisionCreateSerializer, request)
        moderation.decide(
            session,
            request.user,
            answer=data["answer"],
            rationale=data["rationale"],
            post_seqs=data["posts"],
            reason=data.get("reason", ""),
        )
        return Response(_adjudication(session, full=True), status=status.HTTP_201_CREATED)


@extend_schema(tags=["adjudication"])
class SessionPublish(APIView):
    @extend_schema(
        summary="Publish the current decision to the participants (idempotent)",
        request=None,
        responses={200: s.AdjudicationSerializer, **errors(403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        session = _moderated(request, pk)
        moderation.publish(session, request.user)
        return Response(_adjudication(session, full=True))
