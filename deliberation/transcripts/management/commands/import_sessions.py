"""Import a JSONL export of sessions: all of it, or nothing with the errors by line."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from deliberation.transcripts.importing import import_jsonl


class Command(BaseCommand):
    help = "Recreate the sessions of a JSONL export (FILE, or - for stdin); all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A file written by export_sessions --format jsonl.")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            if path == "-":
                report = import_jsonl(sys.stdin)
            else:
                with open(path, encoding="utf-8") as lines:
                    report = import_jsonl(lines)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
