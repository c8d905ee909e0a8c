from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "deliberation.api"
    verbose_name = "HTTP API"
