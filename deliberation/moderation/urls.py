from django.urls import path

from . import views

app_name = "moderation"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("sessions/<int:pk>/", views.session_view, name="session"),
    path("sessions/<int:pk>/metrics.json", views.metrics_json, name="metrics_json"),
    path("sessions/<int:pk>/decide/", views.decide, name="decide"),
    path("sessions/<int:pk>/publish/", views.publish, name="publish"),
]
