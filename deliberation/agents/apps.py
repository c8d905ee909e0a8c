from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "deliberation.agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Agents report private opinions when a round closes (agents.opinions); connected here
        # because the debates app must not import agents at module level.
        from deliberation.debates.signals import round_closed

        from .opinions import on_round_closed

        round_closed.connect(on_round_closed, dispatch_uid="agents-private-opinions", weak=False)
