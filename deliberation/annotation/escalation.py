"""Escalating a disputed item into a live deliberation, and an item's adjudicated final label.

:func:`escalate` opens a session on the item: its question is the item's shown fields and the
project's instructions, its answer format and options are the project's. The debaters are the
item's annotators who have an account (kind ``person``) and labelled it, then the chosen agent
profiles (default: the project's ``escalation_agents``); the escalating user moderates (and so
is not also a debater). Crowd workers have no account and cannot join a live session. A session
with agents only starts at once (nobody to wait for); one with people stays a draft until its
moderator starts it, when they are present. The session has no gold answer: it is there to find
the answer nobody knows for sure.

When the session's moderator publishes a decision (:func:`moderation.services.publish`), the
``decision_published`` signal sets the item's final label from it (:func:`on_decision_published`);
the session stays linked as ``item.escalation``, its transcript the record of why. A manager can
also decide an item directly (:func:`set_final_label`); the latest decision wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from deliberation.agents.models import AgentProfile
from deliberation.debates import controls
from deliberation.debates import services as debates
from deliberation.debates.models import DebateSession, Participant

from .disputes import item_agreement
from .labelling import MAX_RATIONALE, InvalidLabel, clean_label
from .models import Item, Label
from .overview import shown_fields

log = logging.getLogger(__name__)


class EscalationError(ValueError):
    """An item that cannot be escalated or decided as asked; the message is user-facing."""


def session_question(item: Item) -> str:
    """The item's shown fields (each as ``name: value``) and the project's instructions."""
    project = item.project
    lines = [f"Item {item.external_id} of the annotation project {project.name!r}."]
    for name, value in shown_fields(project, item):
        lines.append(f"{name}: {value}")
    if project.instructions.strip():
        lines.append(f"\nLabelling instructions:\n{project.instructions.strip()}")
    lines.append("\nWhich label is correct for this item?")
    return "\n".join(lines)


def item_people(item: Item) -> list:
    """Users with an account who labelled the item, in the order they labelled it."""
    labels = (
        Label.objects.filter(item=item, annotator__kind="person")
        .select_related("annotator__user")
        .order_by("created_at", "id")
    )
    return [label.annotator.user for label in labels]


def escalate(
    item: Item,
    user,
    *,
    protocol: str | None = None,
    agents: Iterable[AgentProfile] | None = None,
    settings: dict[str, Any] | None = None,
) -> DebateSession:
    """Open a deliberation on ``item`` with its people and agents; ``user`` moderates.

    Refuses an item already escalated or without labels. Raises :class:`EscalationError`, or
    ``debates.services.InvalidInput`` for a protocol or settings the session cannot use.
    """
    with transaction.atomic():
        locked = (
            Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=item.pk)
        )
        project = locked.project  # fresh: the settings as they are now
        protocol = protocol or project.escalation_protocol
        agents = list(project.escalation_agents.all() if agents is None else agents)
        if locked.escalation_id is not None:
            raise EscalationError(
                f"Item {item.external_id} is already escalated (session #{locked.escalation_id})."
            )
        if not locked.labels.exists():
            raise EscalationError(
                f"Item {item.external_id} has no labels yet: there is no dispute to deliberate."
            )
        people = [person for person in item_people(locked) if person.pk != user.pk]
        if not people and not agents:
            raise EscalationError(
                "Nobody could deliberate: the item has no labels from people with an account "
                "(crowd workers cannot join a live session), and no agent was chosen."
            )
        session = debates.create_session(
            moderator=user,
            title=f"{project.name}: item {item.external_id}"[:200],
            question=session_question(locked),
            answer_format=project.label_format,
            options=project.options,
            tolerance=project.tolerance,
            protocol=protocol,
            protocol_settings=settings or {},
        )
        for position, person in enumerate(people, start=1):
            Participant.objects.create(
                session=session,
                kind=Participant.Kind.HUMAN,
                user=person,
                role=Participant.Role.DEBATER,
                display_name=(person.get_full_name() or person.get_username())[:100],
                position=position,
            )
        for position, profile in enumerate(agents, start=len(people) + 1):
            debates.add_agent(session, profile, position=position)
        locked.escalation = session
        locked.save(update_fields=["escalation"])
        item.escalation = session
        if not people:
            _start_agents_only(session)
    return session


def _start_agents_only(session: DebateSession) -> None:
    """Start a session of agents only; if its protocol refuses these participants, it stays a
    draft for the moderator to fix (the refusal is not an error of the escalation)."""
    moderator = session.participants.get(role=Participant.Role.MODERATOR)
    try:
        controls.control(moderator, "start")
    except debates.ServiceError as exc:
        log.info("escalated session %s left as a draft: %s", session.pk, exc)
    session.refresh_from_db()


def maybe_auto_escalate(item_id: int) -> DebateSession | None:
    """Escalate the item (owner moderating) if its project says so and it is now disputed.

    Runs after every stored label of an ``auto_escalate`` project; idempotent.
    """
    item = Item.objects.select_related("project__owner").filter(pk=item_id).first()
    if item is None or item.escalation_id is not None or not item.project.auto_escalate:
        return None
    project = item.project
    values = list(item.labels.values_list("value", flat=True))
    if len(values) < project.labels_per_item:
        return None
    agreement = item_agreement(values, project.label_format, project.tolerance)
    if not agreement.disputed(project.dispute_threshold):
        return None
    try:
        return escalate(item, project.owner)
    except EscalationError as exc:  # escalated concurrently, or nobody to deliberate
        log.info("item %s not auto-escalated: %s", item_id, exc)
        return None
    except debates.ServiceError as exc:  # e.g. the project's protocol settings are unusable
        log.warning("auto-escalation of item %s failed: %s", item_id, exc)
        return None


def set_final_label(
    item: Item, value: Any, rationale: str, user, session: DebateSession | None = None
) -> Item:
    """Record the item's adjudicated label (overrides the aggregate); the latest decision wins.

    ``session``: the deliberation the decision comes from; it must be the item's escalation.
    Views check that ``user`` manages the project; the publish hook passes the session's
    decider.
    """
    value = clean_label(item.project, value)
    rationale = (rationale or "").strip()
    if len(rationale) > MAX_RATIONALE:
        raise InvalidLabel(f"The rationale is too long (at most {MAX_RATIONALE} characters).")
    with transaction.atomic():
        locked = Item.objects.select_for_update().get(pk=item.pk)
        if session is not None and locked.escalation_id not in (None, session.pk):
            raise EscalationError(
                f"Item {item.external_id} was escalated to another session "
                f"(#{locked.escalation_id})."
            )
        locked.final_label = value
        locked.final_rationale = rationale
        locked.final_by = user
        locked.final_at = timezone.now()
        fields = ["final_label", "final_rationale", "final_by", "final_at"]
        if session is not None and locked.escalation_id is None:
            locked.escalation = session
            fields.append("escalation")
        locked.save(update_fields=fields)
    for name in fields:
        setattr(item, name, getattr(locked, name))
    return item


def on_decision_published(sender, session: DebateSession, user=None, **kwargs) -> None:
    """``decision_published`` receiver: an escalated item takes the published decision."""
    from deliberation.moderation.services import published_revision

    item = Item.objects.select_related("project").filter(escalation_id=session.pk).first()
    if item is None:
        return
    revision = published_revision(session)
    if revision is None:
        return
    try:
        set_final_label(
            item,
            revision.final_answer,
            revision.rationale,
            revision.decided_by or user,
            session=session,
        )
    except (InvalidLabel, EscalationError) as exc:
        log.warning("item %s kept its label: the published decision %s", item.pk, exc)
