from django.urls import path

from . import views

app_name = "debates"

urlpatterns = [
    path("", views.session_list, name="session_list"),
    path("sessions/new/", views.session_create, name="session_create"),
    path("sessions/<int:pk>/", views.session_detail, name="session_detail"),
    path("sessions/<int:pk>/control/<slug:action>/", views.control, name="control"),
    path("join/<str:token>/", views.join, name="join"),
]
