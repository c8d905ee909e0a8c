"""Batch runs through the HTTP API: launch, follow, read the accuracy table."""

from __future__ import annotations

import pytest

from deliberation.agents.services import run_locally
from deliberation.batches import services
from deliberation.batches.models import BatchRun

pytestmark = pytest.mark.django_db(transaction=True)

QUESTIONS = [
    {
        "question": f"Which is larger, {a} or {b}?",
        "options": [str(a), str(b)],
        "gold": str(max(a, b)),
    }
    for a, b in [(3, 5), (9, 2), (4, 7), (8, 1)]
]


def test_a_batch_is_launched_followed_and_tabulated(api_as, alice):
    client = api_as(alice)
    body = {
        "name": "api batch",
        "questions": QUESTIONS,
        "protocol": "simultaneous",
        "settings": {"rounds": 2},
        "agents": ["sim:accuracy=0.7,seed=1", "sim:accuracy=0.7,seed=2", "sim:accuracy=0.7,seed=3"],
        "concurrency": 2,
    }
    out = []
    run_locally(lambda: out.append(client.post("/api/v1/batches/", body)))
    assert out[0].status_code == 201, out[0].json()
    run_id = out[0].json()["id"]

    detail = client.get(f"/api/v1/batches/{run_id}/").json()
    assert detail["status"] == "finished"
    assert detail["progress"] == {**detail["progress"], "total": 4, "done": 4, "percent": 100}
    table = services.run_table(BatchRun.objects.get(pk=run_id))
    assert detail["table"]["per_rule"] == {k: pytest.approx(v) for k, v in table.per_rule.items()}
    assert "vote_only" in detail["table"]["per_rule"]
    # Simulated profiles have no prices: their cost of pass is unknown (null), never 0.
    cop = detail["table"]["cost_of_pass"]
    assert [r["state"] for r in cop["profiles"]] == ["no_price"] * 3
    assert all(r["cost_of_pass"] is None for r in cop["profiles"] + cop["rules"])
    assert cop["frontier"] is None and cop["cheapest"] is None and len(cop["excluded"]) == 3

    items = client.get(f"/api/v1/batches/{run_id}/items/?page_size=3").json()
    assert [i["index"] for i in items["results"]] == [0, 1, 2] and items["next"]
    rest = client.get(items["next"]).json()
    assert [i["index"] for i in rest["results"]] == [3]
    assert all(i["status"] == "done" and i["session"] for i in items["results"])

    resumed = client.post(f"/api/v1/batches/{run_id}/resume/")
    assert resumed.json() == {"resumed_sessions": 0, "requeued_turns": 0, "started": 0}


def test_a_bad_question_set_is_reported_question_by_question(api_as, alice, make_user):
    client = api_as(alice)
    questions = [
        QUESTIONS[0],
        {"question": "", "options": ["a", "b"]},
        {"question": "q", "options": ["a"]},
    ]
    response = client.post(
        "/api/v1/batches/", {"name": "bad", "questions": questions, "agents": ["sim:seed=1"]}
    )
    assert response.status_code == 400
    problems = response.json()["fields"]["questions"]
    assert problems[0].startswith("questions[1]: the question is empty")
    assert problems[1].startswith("questions[2]:") and "two options" in problems[1]
    assert not BatchRun.objects.exists()
    judged = client.post(
        "/api/v1/batches/",
        {
            "name": "j",
            "questions": QUESTIONS,
            "protocol": "judged",
            "agents": ["sim:seed=1", "sim:seed=2"],
        },
    )
    assert judged.status_code == 400 and "judge" in judged.json()["detail"]


def test_runs_are_private_to_their_owner(api_as, alice, bob):
    run = services.create_run(
        user=alice,
        name="mine",
        questions=[services.Question("q?", ["a", "b"], "a")],
        protocol="vote_only",
        agents=services.resolve_profiles(["sim:seed=1"]),
    )
    assert api_as(bob).get(f"/api/v1/batches/{run.pk}/").status_code == 404
    assert api_as(bob).get("/api/v1/batches/").json()["results"] == []
    assert [r["id"] for r in api_as(alice).get("/api/v1/batches/").json()["results"]] == [run.pk]


def test_cost_of_pass_through_the_api_with_prices_set_on_the_profiles(api_as, alice):
    """Staff create profiles with per-million-token prices through the API; a profile always
    right gets a finite cost of pass, one never right an infinite one (null + flag)."""
    from django.contrib.auth.models import Permission

    alice.user_permissions.add(Permission.objects.get(codename="add_agentprofile"))
    client = api_as(alice)
    names = []
    for name, accuracy, prices in (("right", 1, ("2.5", "10")), ("wrong", 0, ("0.15", "0.6"))):
        r = client.post(
            "/api/v1/agent-profiles/",
            {
                "name": name,
                "backend": "simulated",
                "seed": 3,
                "parameters": {"simulated": {"accuracy": accuracy, "token_delay": 0}},
                "prompt_price_per_mtok": prices[0],
                "completion_price_per_mtok": prices[1],
            },
        )
        assert r.status_code == 201, r.json()
        assert r.json()["prompt_price_per_mtok"] == f"{float(prices[0]):.4f}"
        names.append(name)
    body = {
        "name": "priced",
        "questions": QUESTIONS,
        "protocol": "simultaneous",
        "settings": {"rounds": 1},
        "agents": names,
    }
    out = []
    run_locally(lambda: out.append(client.post("/api/v1/batches/", body)))
    assert out[0].status_code == 201, out[0].json()
    cop = client.get(f"/api/v1/batches/{out[0].json()['id']}/").json()["table"]["cost_of_pass"]
    rows = {r["who"]: r for r in cop["profiles"]}
    assert rows["right"]["state"] == "ok" and rows["right"]["successes"] == 4
    assert rows["right"]["mean_cost_usd"] > 0
    assert rows["right"]["cost_of_pass"] == pytest.approx(rows["right"]["mean_cost_usd"])
    assert rows["wrong"]["cost_of_pass"] is None and rows["wrong"]["cost_of_pass_infinite"]
    assert rows["wrong"]["state"] == "ok" and rows["wrong"]["successes"] == 0
    assert cop["cheapest"] == "right" and cop["frontier_wins"] == {"right": 4, "wrong": 0}
    assert cop["frontier"] == pytest.approx(rows["right"]["cost_of_pass"])
