from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "deliberation.agents"
    verbose_name = "Agents"
