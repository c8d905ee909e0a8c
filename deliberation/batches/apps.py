from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "deliberation.batches"
    verbose_name = "Batch runs"

    def ready(self) -> None:
        from deliberation.debates.signals import session_finished

        from . import services

        def advance(sender, id: int, **kwargs) -> None:
            services.on_session_finished(id)

        session_finished.connect(advance, dispatch_uid="batches-advance", weak=False)
