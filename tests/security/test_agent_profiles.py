"""Agent profiles cannot make the worker read any environment variable or call any address:
``api_key_env`` is limited to the operator's AGENT_API_KEY_ENV_ALLOWED, ``base_url`` goes
through the outbound guard, at validation (API, admin) and again when a turn runs."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client

from deliberation.agents.models import AgentProfile, AgentTurn
from deliberation.agents.services import run_locally
from deliberation.debates import controls
from tests.fake_openai import fake_openai  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "postgres://worker:s3cret-db-password@db.internal:5432/prod"


@pytest.fixture
def creator(make_user):
    user = make_user("profiler")
    user.user_permissions.add(
        Permission.objects.get(codename="add_agentprofile"),
        Permission.objects.get(codename="change_agentprofile"),
    )
    return user


def _profile(**extra) -> dict:
    return {"name": "Remote", "backend": "openai", "model": "gpt-test", **extra}


def test_the_api_refuses_an_api_key_env_off_the_list(api_as, creator):
    response = api_as(creator).post(
        "/api/v1/agent-profiles/", _profile(api_key_env="DATABASE_URL"), format="json"
    )
    assert response.status_code == 400, response.json()
    body = response.json()
    assert "api_key_env" in body["fields"]
    assert "DATABASE_URL is not an API key variable" in body["fields"]["api_key_env"][0]
    assert not AgentProfile.objects.exists()


def test_the_api_accepts_a_listed_api_key_env(api_as, creator, settings):
    settings.AGENT_API_KEY_ENV_ALLOWED = ["OPENAI_API_KEY", "MY_VLLM_KEY"]
    client = api_as(creator)
    ok = client.post("/api/v1/agent-profiles/", _profile(api_key_env="MY_VLLM_KEY"), format="json")
    assert ok.status_code == 201, ok.json()
    other = client.post(
        "/api/v1/agent-profiles/",
        _profile(name="Other", api_key_env="VLLM_API_KEY"),
        format="json",
    )
    assert other.status_code == 400 and "api_key_env" in other.json()["fields"]


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost:{port}/v1",
        "http://127.0.0.1:{port}/v1",
        "http://10.0.0.7:8000/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]:{port}/v1",
    ],
)
def test_the_api_refuses_internal_base_urls(
    production_outbound,
    api_as,
    creator,
    fake_openai,  # noqa: F811
    base_url,
):
    url = base_url.format(port=fake_openai.port)
    response = api_as(creator).post(
        "/api/v1/agent-profiles/", _profile(base_url=url), format="json"
    )
    assert response.status_code == 400, response.json()
    assert "base_url" in response.json()["fields"]
    assert fake_openai.requests == []


def test_creating_profiles_needs_the_permission_and_nothing_edits_them(api_as, make_user):
    nobody = api_as(make_user("plain"))
    response = nobody.post("/api/v1/agent-profiles/", _profile(), format="json")
    assert response.status_code == 403
    profile = AgentProfile.objects.create(name="Existing", backend="simulated")
    for method in ("put", "patch", "delete"):
        answer = getattr(nobody, method)(
            f"/api/v1/agent-profiles/{profile.pk}/", {"api_key_env": "DATABASE_URL"}, format="json"
        )
        assert answer.status_code == 405
    profile.refresh_from_db()
    assert profile.api_key_env == ""


def test_the_admin_form_refuses_both(production_outbound, make_user):
    admin = make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = Client()
    client.force_login(admin)
    page = client.post(
        "/admin/agents/agentprofile/add/",
        {
            **_profile(api_key_env="DJANGO_SECRET_KEY", base_url="http://169.254.169.254/v1"),
            "parameters": "{}",
            "seed": 0,
            "timeout_seconds": 60,
            "max_retries": 2,
            "prompt_price_per_mtok": "0",
            "completion_price_per_mtok": "0",
        },
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "DJANGO_SECRET_KEY is not an API key variable" in text
    assert "which this server does not call" in text
    assert not AgentProfile.objects.exists()
    with pytest.raises(ValidationError) as info:
        AgentProfile(**_profile(api_key_env="DATABASE_URL")).full_clean()
    assert "api_key_env" in info.value.message_dict


def _run_one_turn(debate, profile) -> AgentTurn:
    session = debate(agents=[profile], rounds=1)
    mod = session.participants.get(role="moderator")
    run_locally(lambda: controls.control(mod, "start"))
    return AgentTurn.objects.get(session=session)


def test_a_stored_profile_never_sends_another_variable(
    debate,
    monkeypatch,
    fake_openai,  # noqa: F811
):
    """Stored around validation (before the rule, or imported): the worker reads nothing."""
    monkeypatch.setenv("DATABASE_URL", os.environ.get("DATABASE_URL") or SECRET)
    secret = os.environ["DATABASE_URL"]
    profile = AgentProfile.objects.create(
        **_profile(base_url=fake_openai.base_url, api_key_env="DATABASE_URL", max_retries=0)
    )
    turn = _run_one_turn(debate, profile)
    assert all(
        secret not in value for sent in fake_openai.requests for value in sent.headers.values()
    )
    assert not any("authorization" in sent.headers for sent in fake_openai.requests)
    assert turn.status == AgentTurn.Status.FAILED
    assert "DATABASE_URL" in turn.error and "AGENT_API_KEY_ENV_ALLOWED" in turn.error
    assert secret not in turn.error


def test_a_listed_variable_is_sent(debate, monkeypatch, fake_openai):  # noqa: F811
    monkeypatch.setenv("VLLM_API_KEY", "sk-local-123")
    profile = AgentProfile.objects.create(
        **_profile(base_url=fake_openai.base_url, api_key_env="VLLM_API_KEY", max_retries=0)
    )
    turn = _run_one_turn(debate, profile)
    assert turn.status == AgentTurn.Status.DONE, turn.error
    assert fake_openai.requests[0].headers["authorization"] == "Bearer sk-local-123"


def test_a_stored_loopback_base_url_is_refused_when_the_turn_runs(
    production_outbound,
    debate,
    fake_openai,  # noqa: F811
):
    local = fake_openai.base_url.replace("127.0.0.1", "localhost")
    profile = AgentProfile.objects.create(**_profile(base_url=local, max_retries=3))
    turn = _run_one_turn(debate, profile)
    assert fake_openai.requests == []
    assert turn.status == AgentTurn.Status.FAILED and turn.attempts == 1  # not retried
    assert "base URL refused" in turn.error and "loopback" in turn.error
