"""The OpenAPI schema is checked against the API itself with schemathesis.

For every operation, schemathesis generates valid and invalid requests from the schema and
checks each answer: no server error, a status code the schema declares, a JSON body that
matches the declared schema, and invalid input refused. Most valid requests name objects that
exist (a session, a batch run, a project, an item), so the successful paths run too.

Schema-valid input may still be refused: the services' rules (distinct options, a cursor the
API gave out, a protocol's settings) say more than a schema can, so schemathesis'
positive_data_acceptance check is left out.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from deliberation.annotation import importing
from deliberation.annotation.models import Project
from deliberation.api import tokens
from deliberation.batches import services as batches
from deliberation.debates import services

pytestmark = pytest.mark.django_db(transaction=True)

# Per operation and mode; API_FUZZ_EXAMPLES=200 for a deeper run by hand.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "15"))


@pytest.fixture
def existing(moderator, alice, simulated_agent):
    """Objects for the generated requests to find: their ids by path parameter."""
    agent = simulated_agent("Conformance agent")
    session = services.create_session(
        moderator=moderator,
        title="Conformance",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="simultaneous",
        protocol_settings={"rounds": 1},
    )
    services.join_session(alice, session.invite_token)
    run = batches.create_run(
        user=moderator,
        name="conformance",
        questions=[batches.Question("q?", ["a", "b"], "a")],
        protocol="vote_only",
        agents=[agent],
    )
    ids = {"id": [session.pk, run.pk, agent.pk]}
    project = Project.objects.create(name="Conformance", options=["0", "1"], owner=moderator)
    job = importing.create_import(project, b'{"id": "a", "t": 1}', "items.jsonl", {}, moderator)
    ids["id"].append(project.pk)
    ids["item_pk"] = [project.items.get().pk]
    ids["job_pk"] = [job.pk]
    return ids


@pytest.mark.timeout(900)  # ~30 operations x 2 modes of generated requests
def test_every_operation_answers_as_its_schema_says(moderator, existing):
    _, key = tokens.issue(moderator, "schemathesis")
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    headers = {"Authorization": f"Bearer {key}"}
    failures = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, headers, existing)
            except BaseExceptionGroup as exc:  # check every operation, then fail
                failures.append(
                    f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"
                )
    assert not failures, "\n\n".join(failures)


def _fuzz(operation, mode, headers: dict, existing: dict) -> None:
    positive = mode == schemathesis.GenerationMode.POSITIVE

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), real=st.integers(0, 3))
    def check(case, real):
        for name in case.path_parameters or {}:
            # Only valid requests name real objects (an invalid id must stay invalid).
            if positive and name in existing and real:
                choices = existing[name]
                case.path_parameters[name] = choices[real % len(choices)]
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()
