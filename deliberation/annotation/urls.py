from django.urls import include, path

from . import views

app_name = "annotation"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("new/", views.project_create, name="project_create"),
    path("<int:pk>/", views.project_detail, name="project_detail"),
    path("<int:pk>/settings/", views.project_settings, name="project_settings"),
    path("<int:pk>/label/", views.label_next, name="label_next"),
    path("<int:pk>/label/<int:item_pk>/", views.label_submit, name="label_submit"),
    path("<int:pk>/label/<int:item_pk>/skip/", views.label_skip, name="label_skip"),
    path("crowd/<str:token>/", views.crowd_join, name="crowd_join"),
    path("", include("deliberation.annotation.urls_data")),
    path("", include("deliberation.annotation.urls_agents")),
]
