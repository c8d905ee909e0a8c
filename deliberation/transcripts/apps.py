from django.apps import AppConfig


class TranscriptsConfig(AppConfig):
    name = "deliberation.transcripts"
    verbose_name = "Transcript exports and imports"
