"""``manage.py import_items PROJECT_ID FILE``: import items as the import page does."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from deliberation.annotation import importing
from deliberation.annotation.models import Project


class Command(BaseCommand):
    help = "Import items (CSV or JSONL) into an annotation project, all or nothing by default."

    def add_arguments(self, parser):
        parser.add_argument("project", type=int, help="project id")
        parser.add_argument("file")
        parser.add_argument("--id-column", default="id")
        parser.add_argument("--gold-column", default="")
        parser.add_argument("--check-column", default="")
        parser.add_argument("--skip-bad-rows", action="store_true")

    def handle(self, *args, **options):
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(f"No project {options['project']}.")
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None

        try:
            job = importing.create_import(
                project,
                data,
                path.name,
                {
                    "id_column": options["id_column"],
                    "gold_column": options["gold_column"],
                    "check_column": options["check_column"],
                    "mode": "skip_bad_rows" if options["skip_bad_rows"] else "all_or_nothing",
                },
                None,
                synchronous=True,
            )
        except importing.ImportProblem as exc:
            raise CommandError(str(exc)) from None
        for e in job.errors:
            self.stderr.write(f"line {e['line']}, column {e['column'] or '-'}: {e['reason']}")
        if job.status == "failed":
            raise CommandError(f"Nothing imported: {len(job.errors)} problem(s) in {path.name}.")
        self.stdout.write(f"Imported {job.created_items} items from {job.total_rows} rows.")
