from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "deliberation.annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        from deliberation.moderation.signals import decision_published

        from . import escalation

        # A published decision on an escalated item becomes the item's final label.
        decision_published.connect(
            escalation.on_decision_published, dispatch_uid="annotation-final-label", weak=False
        )
