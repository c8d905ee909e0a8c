from django.urls import path

from . import views

app_name = "transcripts"

urlpatterns = [
    path("export/<str:fmt>/", views.export_sessions, name="export"),
    path("sessions/<int:pk>/export/<str:fmt>/", views.export_session, name="session_export"),
]
