"""Fixtures for annotation projects (a manager, a project, items)."""

from __future__ import annotations

import pytest

from deliberation.annotation.models import Item, Project

RTE_OPTIONS = ["0", "1"]


@pytest.fixture
def manager(make_user):
    return make_user("manager")


@pytest.fixture
def make_project(manager):
    def make(**kwargs) -> Project:
        fields = {
            "name": "RTE",
            "label_format": "single_choice",
            "options": list(RTE_OPTIONS),
            "labels_per_item": 3,
            "owner": manager,
            **kwargs,
        }
        return Project.objects.create(**fields)

    return make


@pytest.fixture
def project(make_project):
    return make_project()


@pytest.fixture
def make_items():
    def make(project: Project, n: int, *, gold=None, checks: int = 0) -> list[Item]:
        """``n`` items ``t0..t{n-1}``; ``gold`` (a value) on every item; the first ``checks``
        items are check items (they need ``gold``)."""
        return Item.objects.bulk_create(
            Item(
                project=project,
                external_id=f"t{i}",
                position=i,
                data={"text": f"item {i}"},
                gold=gold,
                is_check=i < checks,
            )
            for i in range(n)
        )

    return make
