"""Batch runs on PostgreSQL: question sets, parallel sessions, resumption, the accuracy table.

Turns run through ``execute_turn`` in this process (``run_locally``) except where a test
checks the Celery path with a real worker.
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import CommandError, call_command
from django.utils import timezone

from deliberation import celery_app
from deliberation.agents.models import AgentTurn
from deliberation.agents.services import run_locally
from deliberation.batches import services
from deliberation.batches.models import BatchItem, BatchRun
from deliberation.debates.models import DebateSession, Post

pytestmark = pytest.mark.django_db(transaction=True)

OPTIONS = ["A", "B", "C", "D"]


def question_file(tmp_path, n: int, *, fmt: str = "jsonl", seed: int = 0):
    rng = random.Random(seed)
    path = tmp_path / f"questions.{fmt}"
    rows = [
        {"question": f"Question {i}?", "options": OPTIONS, "gold": rng.choice(OPTIONS)}
        for i in range(n)
    ]
    if fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows))
    else:
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["question", "options", "gold"])
            for r in rows:
                writer.writerow([r["question"], "|".join(r["options"]), r["gold"]])
    return path


@pytest.fixture
def owner(make_user):
    return make_user("researcher")


def sim(n: int, **behaviour) -> list:
    spec = ",".join(f"{k}={v}" for k, v in behaviour.items())
    return services.resolve_profiles([f"sim:{spec},seed={i}" for i in range(n)])


# --- question sets -----------------------------------------------------------------------------
def test_csv_and_jsonl_question_sets_read_the_same(tmp_path):
    a = services.parse_questions(question_file(tmp_path, 5).read_text(), "q.jsonl", "single_choice")
    b = services.parse_questions(
        question_file(tmp_path, 5, fmt="csv").read_text(), "q.csv", "single_choice"
    )
    assert a == b and len(a) == 5 and a[0].options == OPTIONS


def test_a_bad_question_set_reports_every_bad_row_and_imports_nothing(owner):
    text = "\n".join(
        [
            json.dumps({"question": "Fine?", "options": ["x", "y"], "gold": "x"}),
            "{not json",
            json.dumps({"question": "", "options": ["x", "y"]}),
            json.dumps({"question": "One option?", "options": ["x"]}),
            json.dumps({"question": "Bad gold?", "options": ["x", "y"], "gold": "z"}),
            json.dumps(["a list"]),
        ]
    )
    with pytest.raises(services.BatchError) as err:
        services.parse_questions(text, "q.jsonl", "single_choice")
    problems = err.value.problems
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert "gold answer 'z'" in problems[3]
    assert "nothing was imported" in err.value.message
    assert not BatchRun.objects.exists()
    with pytest.raises(services.BatchError):
        services.parse_questions("title,options\nx,y", "q.csv", "single_choice")


# --- running -----------------------------------------------------------------------------------
def test_a_batch_runs_every_question_and_tabulates_accuracy(tmp_path, owner):
    questions = services.parse_questions(
        question_file(tmp_path, 6).read_text(), "q.jsonl", "single_choice"
    )
    run = services.create_run(
        user=owner,
        name="six",
        questions=questions,
        protocol="simultaneous",
        agents=sim(3, accuracy=0.7),
        protocol_settings={"rounds": 2},
        concurrency=2,
    )
    run_locally(lambda: services.start_run(run))
    run.refresh_from_db()
    assert run.status == BatchRun.Status.FINISHED and run.finished_at
    items = list(run.items.select_related("session"))
    assert all(i.status == BatchItem.Status.DONE for i in items)
    assert all(i.session.status == DebateSession.Status.FINISHED for i in items)
    assert all(i.session.gold_answer == i.gold for i in items)
    table = services.run_table(run)
    assert table.done == 6 and table.rounds == [1, 2] and len(table.participants) == 3
    # The table equals a direct count from the stored posts.
    for position, name in enumerate(table.participants, start=1):
        for number in (1, 2):
            hits = sum(
                Post.objects.filter(
                    session=i.session,
                    round__number=number,
                    author__position=position,
                    answer=i.gold,
                ).exists()
                for i in items
            )
            assert table.per_participant[name][number] == pytest.approx(hits / 6)
    assert set(table.per_rule) == {"vote_only", "plurality", "confidence_weighted"}
    assert table.prompt_tokens > 0 and table.completion_tokens > 0
    assert table.rows()[0] == ["who", "round 1", "round 2", "final", "ties"]


def test_agreement_per_round_is_computed_over_the_questions_as_units(tmp_path, owner):
    """Krippendorff's alpha and Fleiss' kappa with the questions as units and the positions as
    raters, per round, equal the reference packages on the stored posts."""
    import krippendorff
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    questions = services.parse_questions(
        question_file(tmp_path, 10, seed=3).read_text(), "q.jsonl", "single_choice"
    )
    run = services.create_run(
        user=owner,
        name="agreement",
        questions=questions,
        protocol="simultaneous",
        agents=sim(3, accuracy=0.5, conformity=0.5),
        protocol_settings={"rounds": 2},
        concurrency=2,
    )
    run_locally(lambda: services.start_run(run))
    table = services.run_table(run)
    items = list(run.items.select_related("session").order_by("index"))
    for number in (1, 2):
        rows = []
        for position in (1, 2, 3):
            row = []
            for item in items:
                post = (
                    Post.objects.filter(
                        session=item.session, round__number=number, author__position=position
                    )
                    .exclude(answer=None)
                    .order_by("-seq")
                    .first()
                )
                row.append(OPTIONS.index(post.answer) if post else math.nan)
            rows.append(row)
        expected_alpha = krippendorff.alpha(reliability_data=rows, level_of_measurement="nominal")
        assert table.agreement[number]["alpha"] == pytest.approx(expected_alpha)
        complete = [col for col in zip(*rows, strict=True) if not any(map(math.isnan, col))]
        counts, _ = aggregate_raters([[int(x) for x in col] for col in complete])
        assert table.agreement[number]["kappa"] == pytest.approx(fleiss_kappa(counts))
    labels = [row[0] for row in table.rows()]
    assert "agreement: Krippendorff's alpha" in labels and "agreement: Fleiss' kappa" in labels


def test_resume_after_a_crash_loses_nothing_and_redoes_nothing(tmp_path, owner, task_queue):
    """The turns were queued on the broker when every worker died; one was mid-call."""
    questions = services.parse_questions(
        question_file(tmp_path, 4).read_text(), "q.jsonl", "single_choice"
    )
    run = services.create_run(
        user=owner,
        name="crash",
        questions=questions,
        protocol="vote_only",
        agents=sim(2),
        concurrency=2,
    )
    services.start_run(run)  # turns go to the broker; no worker consumes this queue
    assert run.items.filter(status="running").count() == 2
    queued = list(AgentTurn.objects.filter(session__batch_item__run=run))
    assert len(queued) == 4 and {t.status for t in queued} == {"queued"}
    AgentTurn.objects.filter(pk=queued[0].pk).update(
        status="running", attempts=1, lease_until=timezone.now() - timedelta(seconds=5)
    )
    counts = {}
    run_locally(lambda: counts.update(services.resume_run(run)))
    assert counts["requeued_turns"] == 1 and counts["resumed_sessions"] == 2
    run.refresh_from_db()
    assert run.status == BatchRun.Status.FINISHED
    turns = AgentTurn.objects.filter(session__batch_item__run=run)
    assert turns.count() == 8 and set(turns.values_list("status", flat=True)) == {"done"}
    posts = Post.objects.filter(session__batch_item__run=run, kind="argument")
    assert posts.count() == 8  # one post per agent per question, none twice
    # Resuming a finished run starts nothing and runs no turn.
    before = list(run.items.values_list("pk", "session_id", "status"))
    assert run_locally(lambda: services.resume_run(run)) == 0
    assert list(run.items.values_list("pk", "session_id", "status")) == before


def test_a_batch_runs_through_a_real_celery_worker(tmp_path, owner, task_queue):
    questions = services.parse_questions(
        question_file(tmp_path, 3).read_text(), "q.jsonl", "single_choice"
    )
    run = services.create_run(
        user=owner,
        name="worker",
        questions=questions,
        protocol="round_table",
        agents=sim(2, accuracy=0.8),
        protocol_settings={"rounds": 2},
        concurrency=2,
    )
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[task_queue], shutdown_timeout=30
    ):
        services.start_run(run)
        deadline = timezone.now() + timedelta(seconds=60)
        while timezone.now() < deadline:
            run.refresh_from_db()
            if run.status == BatchRun.Status.FINISHED:
                break
            time.sleep(0.2)
    assert run.status == BatchRun.Status.FINISHED
    assert services.progress(run)["done"] == 3


def test_debate_or_vote_majority_voting_explains_the_gain(tmp_path, owner):
    """Choi et al. 2025 ("Debate or Vote"), reproduced with simulated agents of accuracy 0.6.

    Voting over independent answers beats a single agent; debating afterwards (agents adopt
    others' previous answers in proportion to how many gave them, a martingale) does not raise
    the agents' expected correctness, and the final vote is no better than the round-1 vote.
    """
    questions = services.parse_questions(
        question_file(tmp_path, 30, seed=3).read_text(), "q.jsonl", "single_choice"
    )
    run = services.create_run(
        user=owner,
        name="debate-or-vote",
        questions=questions,
        protocol="simultaneous",
        agents=sim(5, accuracy=0.6, conformity=0.6),
        protocol_settings={"rounds": 2},
        concurrency=8,
    )
    run_locally(lambda: services.start_run(run))
    table = services.run_table(run)
    assert table.done == 30
    single = sum(table.per_participant[n][1] for n in table.participants) / 5
    last = sum(table.per_participant[n][2] for n in table.participants) / 5
    vote = table.per_rule["vote_only"]
    final = table.per_rule["plurality"]
    # Majority voting gives the gain over a single agent ...
    assert vote >= single + 0.1
    # ... debate does not raise expected individual correctness ...
    assert last <= single + 0.08
    # ... and the vote after debate is no better than the vote before it.
    assert final <= vote + 0.05


# --- the command -------------------------------------------------------------------------------
def test_run_batch_command_prints_the_table_and_writes_csv(tmp_path, owner, capsys):
    path = question_file(tmp_path, 3, fmt="csv")
    out = tmp_path / "table.csv"
    call_command(
        "run_batch",
        str(path),
        "--protocol",
        "vote_only",
        "--agents",
        "sim:accuracy=0.9,seed=1",
        "sim:accuracy=0.9,seed=2",
        "sim:accuracy=0.9,seed=3",
        "--user",
        owner.username,
        "--local",
        "--out",
        str(out),
    )
    printed = capsys.readouterr().out
    assert "100%" in printed and "3/3 done" in printed
    assert "rule: vote_only" in printed and "rule: plurality (default)" in printed
    assert "tie rule: random" in printed  # vote only's source (Debate-or-Vote) draws at random
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["who", "round 1", "final", "ties"]
    blank = rows.index([])
    assert blank == 1 + 3 + 3 + 2  # header, three agents, three rules, alpha and kappa
    assert [r[0] for r in rows[7:9]] == [
        "agreement: Krippendorff's alpha",
        "agreement: Fleiss' kappa",
    ]
    # then the cost-of-pass table: the three profiles, three rules, the two frontiers
    cost_rows = rows[blank + 1 :]
    assert cost_rows[0][4:] == ["cost of pass", "cost per correct"]
    assert len(cost_rows) == 1 + 3 + 3 + 2
    assert cost_rows[1][4] == "unknown (no price)"  # simulated profiles have no prices
    assert "Cost of pass (Erol et al. 2025" in printed and "no human-expert baseline" in printed


def test_run_batch_command_refuses_bad_files_and_unknown_agents(tmp_path, owner):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "options": ["a"]}\n')
    with pytest.raises(CommandError, match="line 1"):
        call_command(
            "run_batch", str(bad), "--protocol", "vote_only", "--agents", "sim:", "--local"
        )
    good = question_file(tmp_path, 1)
    with pytest.raises(CommandError, match="No agent profile 'Nobody'"):
        call_command(
            "run_batch", str(good), "--protocol", "vote_only", "--agents", "Nobody", "--local"
        )
    with pytest.raises(CommandError, match="accuracy"):
        call_command(
            "run_batch", str(good), "--protocol", "vote_only", "--agents", "sim:accuracy=2"
        )


# --- cost of pass ------------------------------------------------------------------------------
def test_cost_of_pass_per_profile_and_rule_equals_a_recount_from_the_stored_turns(tmp_path, owner):
    """Erol et al. 2025 over a run: a profile's v per question is its round-1 cost / whether its
    round-1 answer is right (the model alone); the run's value is the mean over questions (inf
    when one question was missed); the frontier takes the cheapest profile on each question."""
    from decimal import Decimal

    from deliberation.debates.models import Participant

    good, coin, never, free = services.resolve_profiles(
        [
            "sim:accuracy=1,seed=11",
            "sim:accuracy=0.6,seed=12",
            "sim:accuracy=0,seed=13",
            "sim:accuracy=1,seed=14",
        ]
    )
    for profile, prices in [(good, (3, 15)), (coin, (0.5, 1.5)), (never, (0.1, 0.2))]:
        profile.prompt_price_per_mtok, profile.completion_price_per_mtok = map(Decimal, prices)
        profile.save()
    questions = services.parse_questions(
        question_file(tmp_path, 6, seed=5).read_text(), "q.jsonl", "single_choice"
    )
    run = services.create_run(
        user=owner,
        name="cop",
        questions=questions,
        protocol="simultaneous",
        agents=[good, coin, never, free],
        protocol_settings={"rounds": 2},
        concurrency=3,
    )
    run_locally(lambda: services.start_run(run))
    cop = services.run_table(run).cost_of_pass
    items = list(run.items.select_related("session"))
    assert len(items) == 6 and all(i.status == BatchItem.Status.DONE for i in items)

    def recount(profile):
        """Per question: (round-1 cost, round-1 answer right) from AgentTurn and Post rows."""
        out = []
        for i in items:
            who = Participant.objects.get(session=i.session, agent_profile=profile)
            turns = AgentTurn.objects.filter(session=i.session, participant=who, round__number=1)
            spent = float(sum(t.cost_usd for t in turns))
            right = Post.objects.filter(
                session=i.session, round__number=1, author=who, answer=i.gold
            ).exists()
            out.append((spent, right))
        return out

    rows = {r.who: r for r in cop.profiles}
    expected = {}
    for profile in (good, coin, never):
        per_q = recount(profile)
        assert all(spent > 0 for spent, _ in per_q)
        v = [spent / 1 if right else float("inf") for spent, right in per_q]
        expected[profile.name] = v
        row = rows[profile.name]
        assert row.state == "ok" and row.questions == row.attempts == 6
        assert row.successes == sum(right for _, right in per_q)
        assert row.mean_cost_usd == pytest.approx(sum(s for s, _ in per_q) / 6)
        mean = sum(v) / 6  # inf as soon as one question was missed
        if mean == float("inf"):
            assert row.cost_of_pass == float("inf")
        else:
            assert row.cost_of_pass == pytest.approx(mean)
        hits = row.successes
        pooled = sum(s for s, _ in per_q) / hits if hits else float("inf")
        assert row.cost_per_correct == pytest.approx(pooled)
    # accuracy 1 is always right, accuracy 0 never: finite and infinite cost of pass
    assert rows[good.name].successes == 6 and rows[good.name].cost_of_pass < float("inf")
    assert rows[never.name].successes == 0 and rows[never.name].cost_of_pass == float("inf")
    # a profile without prices is unknown, never 0, and stays out of the frontier
    assert rows[free.name].state == "no_price" and rows[free.name].cost_of_pass is None
    assert cop.excluded == [free.name]
    # the frontier: the cheapest priced profile on each question, averaged
    best = [min(expected[p.name][q] for p in (good, coin, never)) for q in range(6)]
    assert cop.frontier == pytest.approx(sum(best) / 6)
    assert sum(cop.frontier_wins.values()) == 6 and cop.unsolved == 0
    cheapest = min((good, coin, never), key=lambda p: rows[p.name].cost_of_pass)
    assert cop.cheapest == cheapest.name
    # rules: the whole session's cost (vote_only: round 1's) against the rule's final answer;
    # with an unpriced agent in every session they are unknown too
    assert {r.who.split()[1] for r in cop.rules} >= {"vote_only", "plurality"}
    assert all(r.state == "no_price" and r.cost_of_pass is None for r in cop.rules)
    text = services.run_table(run).cost_of_pass.rows()
    assert text[0][4] == "cost of pass" and "unknown (no price)" in {c for r in text for c in r}
    # the run's page shows the table and names the cheapest profile
    from django.test import Client

    browser = Client()
    browser.force_login(owner)
    page = browser.get(run.get_absolute_url()).content.decode()
    assert 'id="cost-of-pass-table"' in page
    assert f'<strong id="cheapest-profile">{cheapest.name}</strong>' in page


def test_rule_cost_of_pass_uses_the_session_cost_and_old_results_read_as_unknown(tmp_path, owner):
    from decimal import Decimal

    profiles = sim(3, accuracy=0.8)
    for p in profiles:
        p.prompt_price_per_mtok, p.completion_price_per_mtok = Decimal("1"), Decimal("4")
        p.save()
    questions = services.parse_questions(
        question_file(tmp_path, 4, seed=8).read_text(), "q.jsonl", "single_choice"
    )
    run = services.create_run(
        user=owner,
        name="rules",
        questions=questions,
        protocol="simultaneous",
        agents=profiles,
        protocol_settings={"rounds": 2},
        concurrency=2,
    )
    run_locally(lambda: services.start_run(run))
    table = services.run_table(run)
    items = list(run.items.select_related("session"))
    rules = {r.who.split()[1]: r for r in table.cost_of_pass.rules}
    for name, key in (("plurality", None), ("vote_only", 1)):
        per_q = []
        for i in items:
            turns = AgentTurn.objects.filter(session=i.session)
            if key:
                turns = turns.filter(round__number=key)
            spent = float(sum(t.cost_usd for t in turns))
            per_q.append((spent, bool(i.result["rules"][name])))
        row = rules[name]
        assert row.state == "ok" and row.successes == sum(ok for _, ok in per_q)
        assert row.mean_cost_usd == pytest.approx(sum(s for s, _ in per_q) / 4)
        v = [s if ok else float("inf") for s, ok in per_q]
        if all(ok for _, ok in per_q):
            assert row.cost_of_pass == pytest.approx(sum(v) / 4)
        else:
            assert row.cost_of_pass == float("inf")
    assert rules["vote_only"].mean_cost_usd < rules["plurality"].mean_cost_usd
    assert table.cost_of_pass.frontier_with_rules is not None

    # Results stored before per-position costs: unknown (never 0) until recomputed.
    for i in items:
        for key in ("positions", "round1_cost_usd", "priced"):
            i.result.pop(key)
        i.save(update_fields=["result"])
    old = services.run_table(run).cost_of_pass
    assert all(r.state == "no_data" and r.cost_of_pass is None for r in old.profiles + old.rules)
    assert old.frontier is None and old.cheapest is None
    assert services.refresh_results(run) == 4
    assert services.run_table(run).cost_of_pass == table.cost_of_pass
