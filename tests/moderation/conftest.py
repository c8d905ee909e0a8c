"""Sessions driven through the real services for the moderation tests."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from deliberation.debates import controls, services
from deliberation.debates.models import DebateSession, Participant


@pytest.fixture(autouse=True)
def _clear_metrics_cache():
    cache.clear()
    yield


def fresh(session: DebateSession) -> DebateSession:
    return DebateSession.objects.get(pk=session.pk)


def moderator_of(session: DebateSession) -> Participant:
    return session.participants.get(role=Participant.Role.MODERATOR)


@pytest.fixture
def people_debate(moderator, make_user):
    """A started session of people only (simultaneous rounds unless told otherwise)."""

    def make(n: int = 3, *, protocol: str = "simultaneous", rounds: int = 2, **kwargs):
        session = services.create_session(
            moderator=moderator,
            title=kwargs.pop("title", "Moderated"),
            question=kwargs.pop("question", "Is the sky blue?"),
            options=kwargs.pop("options", ["Yes", "No"]),
            protocol=protocol,
            protocol_settings={"rounds": rounds, **kwargs.pop("settings", {})},
            **kwargs,
        )
        people = [
            services.join_session(make_user(f"p{session.pk}-{i}"), session.invite_token)
            for i in range(n)
        ]
        controls.control(moderator_of(session), "start")
        return session, people

    return make


def play_round(people, answers, confidences=None):
    """Every person posts their answer of the round (in order)."""
    confidences = confidences or [None] * len(people)
    for person, answer, confidence in zip(people, answers, confidences, strict=True):
        services.submit_post(person, f"I say {answer}.", answer=answer, confidence=confidence)


def metric_cells(html: str) -> dict[str, str]:
    """``data-metric`` name -> the text shown in that cell."""
    return {
        name: value.strip()
        for name, value in re.findall(r'data-metric="([^"]+)"[^>]*>([^<]*)<', html)
    }
