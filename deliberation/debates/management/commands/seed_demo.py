"""Create the demo users, two simulated agents and a demo session (idempotent)."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from deliberation.agents.models import AgentProfile
from deliberation.debates import services
from deliberation.debates.models import DebateSession

DEMO_TITLE = "Demo: should cities ban cars from their centres?"


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
        self.stdout.write(
            f"Demo accounts (password for both: {password}):\n"
            f"  moderator / {password}   (starts and runs the session; also an admin)\n"
            f"  debater   / {password}   (already joined as a debater)\n"
            f"Demo session: {session.get_absolute_url()}   "
            f"(invite link: {session.get_invite_url()})"
        )

    def _user(self, username: str, password: str, staff: bool = False):
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": staff, "is_superuser": staff}
        )
        if created:
            user.set_password(password)
            user.save()
        return user

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
