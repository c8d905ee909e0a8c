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

from deliberation.api import tokens
from deliberation.batches.models import BatchRun
from deliberation.debates.models import DebateSession
from tests.live_server import REPO_ROOT, run_servers

pytestmark = pytest.mark.django_db(transaction=True)

MARKER = "<!-- example: api-experiment -->"


def docs_example() -> str:
    text = (REPO_ROOT / "docs" / "api.md").read_text()
    after = text[text.index(MARKER) + len(MARKER) :]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_the_documented_experiment_runs_through_the_api(tmp_path, moderator):
    _, key = tokens.issue(moderator, "docs example")
    script = tmp_path / "experiment.py"
    script.write_text(docs_example())
    with run_servers(tmp_path, SIMULATED_TOKEN_DELAY="0") as servers:
        offsets = servers.log_offsets()
        env = {
            **os.environ,
            "DELIBERATION_API": f"{servers.base_url}/api/v1",
            "DELIBERATION_TOKEN": key,
        }
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=240
        )
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
