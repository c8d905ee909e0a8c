from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "deliberation.webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from deliberation.batches.signals import batch_finished
        from deliberation.debates.signals import session_finished
        from deliberation.moderation.signals import decision_published

        from . import services

        def finished(sender, id: int, **kwargs) -> None:
            services.on_session_finished(id)

        def published(sender, session, **kwargs) -> None:
            services.on_decision_published(session)

        def batch(sender, id: int, **kwargs) -> None:
            services.on_batch_finished(id)

        session_finished.connect(finished, dispatch_uid="webhooks-session", weak=False)
        decision_published.connect(published, dispatch_uid="webhooks-decision", weak=False)
        batch_finished.connect(batch, dispatch_uid="webhooks-batch", weak=False)
