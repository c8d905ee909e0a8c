from django.apps import AppConfig


class DebatesConfig(AppConfig):
    name = "deliberation.debates"
    verbose_name = "Debates"

    def ready(self) -> None:
        from . import access

        access.connect()
