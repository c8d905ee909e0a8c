"""The versioned HTTP API (/api/v1/...), its OpenAPI schema, and the token page."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from .views import agents, annotation, batches, exports, sessions, tokens

app_name = "api"

v1 = [
    path("me/", tokens.Me.as_view(), name="me"),
    path("protocols/", sessions.ProtocolList.as_view(), name="protocols"),
    path("agent-profiles/", agents.AgentProfileList.as_view(), name="agent_profiles"),
    path("agent-profiles/<int:pk>/", agents.AgentProfileDetail.as_view(), name="agent_profile"),
    path("sessions/", sessions.SessionList.as_view(), name="sessions"),
    path("sessions/join/", sessions.SessionJoin.as_view(), name="session_join"),
    path("sessions/<int:pk>/", sessions.SessionDetail.as_view(), name="session"),
    path("sessions/<int:pk>/control/", sessions.SessionControl.as_view(), name="session_control"),
    path("sessions/<int:pk>/posts/", sessions.SessionPosts.as_view(), name="session_posts"),
    path(
        "sessions/<int:pk>/opinions/", sessions.SessionOpinions.as_view(), name="session_opinions"
    ),
    path("sessions/<int:pk>/metrics/", sessions.SessionMetrics.as_view(), name="session_metrics"),
    path(
        "sessions/<int:pk>/adjudication/",
        sessions.SessionAdjudication.as_view(),
        name="session_adjudication",
    ),
    path(
        "sessions/<int:pk>/adjudication/publish/",
        sessions.SessionPublish.as_view(),
        name="session_publish",
    ),
    path("sessions/export/<str:fmt>/", exports.SessionsExport.as_view(), name="sessions_export"),
    path(
        "sessions/<int:pk>/export/<str:fmt>/",
        exports.SessionExport.as_view(),
        name="session_export",
    ),
    path("batches/", batches.BatchList.as_view(), name="batches"),
    path("batches/<int:pk>/", batches.BatchDetail.as_view(), name="batch"),
    path("batches/<int:pk>/items/", batches.BatchItems.as_view(), name="batch_items"),
    path("batches/<int:pk>/resume/", batches.BatchResume.as_view(), name="batch_resume"),
    path("projects/", annotation.ProjectList.as_view(), name="projects"),
    path("projects/<int:pk>/", annotation.ProjectDetail.as_view(), name="project"),
    path("projects/<int:pk>/items/", annotation.ProjectItems.as_view(), name="project_items"),
    path(
        "projects/<int:pk>/imports/<int:job_pk>/",
        annotation.ProjectImport.as_view(),
        name="project_import",
    ),
    path("projects/<int:pk>/labels/", annotation.ProjectLabels.as_view(), name="project_labels"),
    path(
        "projects/<int:pk>/aggregate/",
        annotation.ProjectAggregate.as_view(),
        name="project_aggregate",
    ),
    path(
        "projects/<int:pk>/assignments/next/",
        annotation.NextAssignment.as_view(),
        name="project_next_assignment",
    ),
    path(
        "projects/<int:pk>/items/<int:item_pk>/label/",
        annotation.ItemLabel.as_view(),
        name="project_item_label",
    ),
    path(
        "projects/<int:pk>/items/<int:item_pk>/skip/",
        annotation.ItemSkip.as_view(),
        name="project_item_skip",
    ),
    path(
        "schema/",
        SpectacularAPIView.as_view(api_version="1.0.0", permission_classes=[AllowAny]),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", permission_classes=[AllowAny]),
        name="docs",
    ),
]

urlpatterns = [
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("v1/", include(v1)),
]
