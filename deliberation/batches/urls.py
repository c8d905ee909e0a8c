from django.urls import path

from . import views

app_name = "batches"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("new/", views.run_create, name="create"),
    path("<int:pk>/", views.run_detail, name="detail"),
    path("<int:pk>/resume/", views.run_resume, name="resume"),
]
