from django.urls import path

from . import views_data

urlpatterns = [
    path("<int:pk>/import/", views_data.import_create, name="import_create"),
    path("<int:pk>/import/<int:job_pk>/", views_data.import_detail, name="import_detail"),
    path("<int:pk>/export/<str:kind>/", views_data.export, name="export"),
]
