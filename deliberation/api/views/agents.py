"""Agent profiles over HTTP. Everyone may read them (the create-session form lists them all);
creating one takes the same permission as in the admin (``agents.add_agentprofile``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deliberation.agents.models import AgentProfile

from ..pagination import InOrder
from ..schema import errors
from ..serializers.agents import AgentProfileSerializer
from .common import page_of


@extend_schema(tags=["agents"])
class AgentProfileList(GenericAPIView):
    pagination_class = InOrder
    serializer_class = AgentProfileSerializer
    queryset = AgentProfile.objects.all()

    @extend_schema(
        summary="Agent profiles", responses={200: AgentProfileSerializer(many=True), **errors(400)}
    )
    def get(self, request: Request) -> Response:
        return page_of(self, self.get_queryset())

    @extend_schema(
        summary="Create an agent profile (needs the admin's 'add agent profile' permission)",
        request=AgentProfileSerializer,
        responses={201: AgentProfileSerializer, **errors(400, 403)},
    )
    def post(self, request: Request) -> Response:
        if not request.user.has_perm("agents.add_agentprofile"):
            raise PermissionDenied("Creating agent profiles needs the 'add agent profile' right.")
        serializer = AgentProfileSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = serializer.save(created_by=request.user)
        return Response(AgentProfileSerializer(profile).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["agents"])
class AgentProfileDetail(APIView):
    @extend_schema(
        summary="An agent profile", responses={200: AgentProfileSerializer, **errors(404)}
    )
    def get(self, request: Request, pk: int) -> Response:
        profile = AgentProfile.objects.filter(pk=pk).first()
        if profile is None:
            raise NotFound("No such agent profile.")
        return Response(AgentProfileSerializer(profile).data)
