from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "deliberation.moderation"
    verbose_name = "Moderation"

    def ready(self) -> None:
        from deliberation.debates.signals import session_changed

        from . import live, models  # noqa: F401  (models: registers the post-link check)

        session_changed.connect(
            live.on_session_changed, dispatch_uid="moderation-metrics", weak=False
        )
