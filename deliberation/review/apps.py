from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "deliberation.review"
    verbose_name = "Transcript review"
