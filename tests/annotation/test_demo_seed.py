"""``seed_demo`` (run by ``make demo``) prepares an annotation project too, idempotently."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from deliberation.annotation.models import Project

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_rte_project_once(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    project = Project.objects.get()
    assert project.items.count() == 40 and project.items.filter(is_check=True).count() == 4
    assert project.crowd_enabled and project.escalation_agents.count() == 2
    assert f"Demo project: /annotation/{project.pk}/" in capsys.readouterr().out
