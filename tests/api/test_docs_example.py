"""The experiment script in docs/api.md runs, as written, against the real server and worker.

daphne and a Celery worker run as subprocesses on the test database (tests/live_server.py);
the script runs as a third process with nothing but an API token and the base URL, exactly as
a researcher would run it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from deliberation.annotation.models import Label, Project
from deliberation.api import tokens
from deliberation.batches.models import BatchRun
from deliberation.debates.models import DebateSession
from tests.live_server import REPO_ROOT, run_servers

pytestmark = pytest.mark.django_db(transaction=True)


def docs_example(name: str) -> str:
    """The python block after ``<!-- example: NAME -->`` in docs/api.md."""
    marker = f"<!-- example: {name} -->"
    text = (REPO_ROOT / "docs" / "api.md").read_text()
    after = text[text.index(marker) + len(marker) :]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def run_script(tmp_path, code: str, base_url: str, key: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(code)
    env = {**os.environ, "DELIBERATION_API": f"{base_url}/api/v1", "DELIBERATION_TOKEN": key}
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=240
    )


def test_the_documented_experiment_runs_through_the_api(tmp_path, moderator):
    _, key = tokens.issue(moderator, "docs example")
    with run_servers(tmp_path, SIMULATED_TOKEN_DELAY="0") as servers:
        offsets = servers.log_offsets()
        done = run_script(tmp_path, docs_example("api-experiment"), servers.base_url, key)
        if done.returncode:
            servers.print_logs(offsets)
    assert done.returncode == 0, done.stdout + done.stderr
    session = DebateSession.objects.get(batch_item__isnull=True)
    assert session.status == "finished"
    revision = session.adjudication.revisions.get()
    assert session.adjudication.published_at is not None
    assert f"session {session.pk}: " in done.stdout
    assert f"adjudicated: {revision.final_answer!r}" in done.stdout
    run = BatchRun.objects.get()
    assert run.status == "finished" and run.items.filter(status="done").count() == 6
    assert "rule vote_only: " in done.stdout
    print(done.stdout)


def test_the_documented_annotation_script_runs_through_the_api(tmp_path, alice):
    _, key = tokens.issue(alice, "docs example")
    with run_servers(tmp_path, worker=False) as servers:
        offsets = servers.log_offsets()
        done = run_script(tmp_path, docs_example("api-annotation"), servers.base_url, key)
        if done.returncode:
            servers.print_logs(offsets)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("400 ") and "items.3" in lines[0]
    assert lines[1] == "201 3 items"
    assert lines[2].startswith("done ")
    assert lines[3] == "accuracy against gold: 1.0"
    project = Project.objects.get(owner=alice)
    assert project.items.count() == 3 and Label.objects.filter(item__project=project).count() == 3
    print(done.stdout)
