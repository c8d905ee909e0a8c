"""Create the demo users, two simulated agents and a demo session (idempotent)."""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from deliberation.agents.models import AgentProfile
from deliberation.debates import services
from deliberation.debates.models import DebateSession

DEMO_TITLE = "Demo: should cities ban cars from their centres?"
DEMO_PROJECT = "Demo: textual entailment (RTE)"
DEMO_ITEMS = Path(__file__).resolve().parents[4] / "docs" / "examples" / "rte_sample.csv"


class Command(BaseCommand):
    help = "Create a demo moderator, a demo debater, two simulated agents and a demo session."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD", "deliberate-demo")
        with transaction.atomic():
            moderator = self._user("moderator", password, staff=True)
            debater = self._user("debater", password)
            agents = [
                self._agent("Ada (simulated)", 11, "A careful empiricist who cites evidence."),
                self._agent("Basil (simulated)", 23, "A pragmatic contrarian who tests arguments."),
            ]
            session = DebateSession.objects.filter(title=DEMO_TITLE, created_by=moderator).first()
            if session is None:
                session = services.create_session(
                    moderator=moderator,
                    title=DEMO_TITLE,
                    question="Should a mid-sized city ban private cars from its historic centre?",
                    options=["Yes", "No", "Only at weekends"],
                    protocol_settings={"rounds": 3},
                    agent_profiles=agents,
                )
            services.join_session(debater, session.invite_token)
            project = self._project(moderator, agents)
        self.stdout.write(
            f"Demo accounts (password for both: {password}):\n"
            f"  moderator / {password}   (starts and runs the session; also an admin)\n"
            f"  debater   / {password}   (already joined as a debater)\n"
            f"Demo session: {session.get_absolute_url()}   "
            f"(invite link: {session.get_invite_url()})\n"
            f"Demo project: /annotation/{project.pk}/   "
            f"(label it at /annotation/{project.pk}/label/)\n"
            f"HTTP API: /api/v1/docs/   (make a token at /api/tokens/; docs/api.md)"
        )

    def _user(self, username: str, password: str, staff: bool = False):
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": staff, "is_superuser": staff}
        )
        if created:
            user.set_password(password)
            user.save()
        return user

    def _project(self, owner, agents):
        """An annotation project with 40 RTE items (4 of them gold checks)."""
        from deliberation.annotation import importing
        from deliberation.annotation.models import Project

        project = Project.objects.filter(name=DEMO_PROJECT, owner=owner).first()
        if project is None:
            project = Project.objects.create(
                name=DEMO_PROJECT,
                instructions="Does the text entail the hypothesis? 1 = yes, 0 = no.",
                label_format="single_choice",
                options=["0", "1"],
                labels_per_item=3,
                shown_fields=["text", "hypothesis"],
                crowd_enabled=True,
                owner=owner,
            )
            project.escalation_agents.set(agents)
            importing.create_import(
                project,
                DEMO_ITEMS.read_bytes(),
                DEMO_ITEMS.name,
                {"gold_column": "gold", "check_column": "check"},
                owner,
                synchronous=True,
            )
        return project

    def _agent(self, name: str, seed: int, persona: str) -> AgentProfile:
        profile, _ = AgentProfile.objects.get_or_create(
            name=name,
            defaults={
                "backend": AgentProfile.Backend.SIMULATED,
                "model": "simulated-1",
                "seed": seed,
                "system_prompt": persona,
            },
        )
        return profile
