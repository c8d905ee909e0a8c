from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "deliberation.webhooks"
    verbose_name = "Webhooks"
