"""Run a question set through a protocol with agents only, and print the accuracy table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from deliberation import csvsafe
from deliberation.agents.services import run_locally
from deliberation.batches import services
from deliberation.batches.models import BatchRun
from deliberation.protocols.registry import PROTOCOLS


class Command(BaseCommand):
    help = (
        "Run QUESTIONS (CSV or JSONL: question, options, optional gold) under a protocol with "
        "agents only, show a progress bar, and print accuracy per round for each participant "
        "and for each final-answer rule, with the vote-only baseline."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "questions", help="CSV (question,options,gold; options split by |) or JSONL file"
        )
        parser.add_argument("--protocol", required=True, choices=sorted(PROTOCOLS))
        parser.add_argument(
            "--agents",
            nargs="+",
            required=True,
            metavar="PROFILE",
            help="Agent profiles by name or id; 'sim:accuracy=0.6,conformity=0.5' makes a "
            "simulated agent with that behaviour.",
        )
        parser.add_argument("--judge", metavar="PROFILE", help="Judge agent (judged debate).")
        parser.add_argument(
            "--set",
            nargs="*",
            default=[],
            metavar="NAME=VALUE",
            help="Protocol settings, e.g. rounds=3.",
        )
        parser.add_argument("--format", default="single_choice", dest="answer_format")
        parser.add_argument("--tolerance", type=float, default=0.0)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--name", default="")
        parser.add_argument("--user", default=None, help="Owner (default: the first superuser).")
        parser.add_argument("--out", help="Also write the table as CSV to this path.")
        parser.add_argument(
            "--local",
            action="store_true",
            help="Run the agent turns in this process instead of Celery workers.",
        )
        parser.add_argument(
            "--refresh-results",
            action="store_true",
            help="With --resume: recompute the stored results that predate per-position costs "
            "(needed for the cost-of-pass of runs made before it was recorded).",
        )
        parser.add_argument(
            "--resume",
            type=int,
            metavar="RUN_ID",
            help="Resume an existing run instead of creating one.",
        )

    def handle(self, *args, **opts):
        try:
            run = self._resume(opts) if opts["resume"] else self._create(opts)
        except services.BatchError as exc:
            problems = "\n".join(f"  {p}" for p in exc.problems)
            raise CommandError(f"{exc.message}\n{problems}".rstrip()) from None
        self.stdout.write(f"Run {run.pk}: {run.items.count()} questions, protocol {run.protocol}")
        if opts["refresh_results"]:
            self.stdout.write(f"Recomputed {services.refresh_results(run)} stored results")
        if opts["local"]:
            run_locally(lambda: services.resume_run(run), on_progress=lambda: self._bar(run))
        elif not opts["resume"]:
            services.start_run(run)
        self._wait(run)
        table = services.run_table(run)
        self._print(table)
        if opts["out"]:
            with open(opts["out"], "w", newline="") as fh:
                writer = csvsafe.writer(fh)
                writer.writerows(table.rows())
                if table.cost_of_pass:  # the cost-of-pass table, after an empty row
                    writer.writerow([])
                    writer.writerows(table.cost_of_pass.rows())
            self.stdout.write(f"Table written to {opts['out']}")

    def _create(self, opts) -> BatchRun:
        path = Path(opts["questions"])
        if not path.exists():
            raise CommandError(f"No such file: {path}")
        questions = services.parse_questions(path.read_bytes(), path.name, opts["answer_format"])
        settings = {}
        for item in opts["set"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--set takes NAME=VALUE, not {item!r}")
            settings[name.strip()] = value.strip()
        agents = services.resolve_profiles(opts["agents"])
        judge = services.resolve_profiles([opts["judge"]])[0] if opts["judge"] else None
        return services.create_run(
            user=self._user(opts["user"]),
            name=opts["name"] or path.stem,
            questions=questions,
            protocol=opts["protocol"],
            agents=agents,
            judge=judge,
            protocol_settings=settings,
            answer_format=opts["answer_format"],
            tolerance=opts["tolerance"],
            concurrency=opts["concurrency"],
        )

    def _resume(self, opts) -> BatchRun:
        run = BatchRun.objects.filter(pk=opts["resume"]).first()
        if run is None:
            raise CommandError(f"No batch run {opts['resume']}.")
        if not opts["local"]:
            counts = services.resume_run(run)
            self.stdout.write(f"Resumed: {counts}")
        return run

    def _user(self, username):
        User = get_user_model()
        user = (
            User.objects.filter(username=username).first()
            if username
            else User.objects.filter(is_superuser=True).order_by("pk").first()
        )
        if user is None:
            raise CommandError("No such user; pass --user (or create a superuser).")
        return user

    def _wait(self, run: BatchRun) -> None:
        while True:
            state = self._bar(run)
            run.refresh_from_db()
            if run.status != BatchRun.Status.RUNNING or state["pending"] + state["running"] == 0:
                break
            time.sleep(0.5)
        self.stdout.write("")

    def _bar(self, run: BatchRun) -> dict[str, int]:
        state = services.progress(run)
        width = 30
        filled = width * state["percent"] // 100
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {state['percent']:3d}%  "
            f"{state['done']}/{state['total']} done, {state['running']} running, "
            f"{state['failed']} failed"
        )
        if line != getattr(self, "_last_line", None):
            self._last_line = line
            self.stdout.write(line, ending="")
            sys.stdout.flush()
        return state

    def _columns(self, rows: list[list[str]]) -> None:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))

    def _print(self, table: services.RunTable) -> None:
        self._columns(table.rows())
        self.stdout.write(
            f"{table.done}/{table.total} questions done, {table.failed} failed; "
            f"tokens {table.prompt_tokens} in / {table.completion_tokens} out; "
            f"cost ${table.cost_usd:.4f}"
        )
        self.stdout.write(
            f"tie rule: {table.tie_break or 'none'} (ties: the share of questions whose vote "
            "had several answers sharing the top count or weight)"
        )
        cop = table.cost_of_pass
        if cop is None:
            return
        self.stdout.write("")
        self.stdout.write(
            "Cost of pass (Erol et al. 2025; USD): a profile alone is its round-1 answers at its "
            "round-1 cost, a rule is the session's final answer at the session's cost (vote_only: "
            "round 1's); cost of pass = mean over questions of cost / success rate (inf when a "
            "question was never answered right); cost per correct = total cost / correct answers"
        )
        self._columns(cop.rows())
        wins = ", ".join(f"{k} on {v}" for k, v in cop.frontier_wins.items() if v)
        self.stdout.write(
            f"cheapest profile: {cop.cheapest or 'unknown'}; frontier: cheapest per question "
            f"{wins or '(none)'}; {cop.unsolved} question(s) no priced profile answered right; "
            "no human-expert baseline"
            + (f"; unknown cost (left out): {', '.join(cop.excluded)}" if cop.excluded else "")
        )
