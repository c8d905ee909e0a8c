from django.urls import path

from . import views

app_name = "review"

urlpatterns = [
    path("sessions/<int:pk>/replay/", views.replay, name="replay"),
]
