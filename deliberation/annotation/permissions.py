"""Who may do what in a project: its owner, its managers and staff manage it; any signed-in
user may label in it (through its page); crowd workers label through its join link only."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404

from .models import Project


class NotAllowed(Exception):
    """The user may not do this; the message says why (shown to them)."""


def can_manage(user, project: Project) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff or project.owner_id == user.pk:
        return True
    return project.managers.filter(pk=user.pk).exists()


def managed_projects(user):
    """Projects ``user`` manages (all of them for staff)."""
    qs = Project.objects.all()
    if not user.is_staff:
        qs = qs.filter(Q(owner=user) | Q(managers=user)).distinct()
    return qs


def managed_project_or_404(user, pk: int) -> Project:
    """The project, if ``user`` manages it; 404 otherwise (no leak of which ids exist)."""
    project = Project.objects.filter(pk=pk).first()
    if project is None or not can_manage(user, project):
        raise Http404("No such project.")
    return project
