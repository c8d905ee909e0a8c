from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from deliberation import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("deliberation.api.urls")),
    path("review/", include("deliberation.review.urls")),
    path("transcripts/", include("deliberation.transcripts.urls")),
    path("webhooks/", include("deliberation.webhooks.urls")),
    path("annotation/", include("deliberation.annotation.urls")),
    path("batches/", include("deliberation.batches.urls")),
    path("moderation/", include("deliberation.moderation.urls")),
    path("", include("deliberation.debates.urls")),
]

handler400 = "deliberation.api.errors.bad_request"
handler404 = "deliberation.api.errors.page_not_found"
handler500 = "deliberation.api.errors.server_error"
