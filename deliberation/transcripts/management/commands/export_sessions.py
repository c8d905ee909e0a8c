"""Export sessions as JSONL (full fidelity) or as CSV of posts or answers per round."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from deliberation.debates.models import DebateSession
from deliberation.transcripts.formats import FORMATS, parse_ids


class Command(BaseCommand):
    help = (
        "Stream sessions to stdout (or --out FILE) as JSONL, the reimportable full record, or "
        "as CSV: one row per post (posts_csv) or per participant and round (answers_csv)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=DebateSession.Status.values)
        parser.add_argument("--ids", help="Comma-separated session ids, e.g. 1,2,5.")
        parser.add_argument("--format", default="jsonl", choices=sorted(FORMATS))
        parser.add_argument("--out", help="Write to this file instead of stdout.")
        parser.add_argument(
            "--no-metrics", action="store_true", help="JSONL without the computed metrics."
        )

    def handle(self, *args, **options):
        sessions = DebateSession.objects.all()
        if options["status"]:
            sessions = sessions.filter(status=options["status"])
        if options["ids"]:
            try:
                ids = parse_ids(options["ids"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            missing = sorted(
                set(ids) - set(sessions.filter(pk__in=ids).values_list("pk", flat=True))
            )
            if missing:
                raise CommandError(f"No session {', '.join(map(str, missing))} (with this status).")
            sessions = sessions.filter(pk__in=ids)
        fmt = FORMATS[options["format"]]
        extra = {"metrics": False} if options["no_metrics"] and fmt.name == "jsonl" else {}
        if options["out"]:
            try:
                with open(options["out"], "w", encoding="utf-8", newline="") as out:
                    count = self._write(fmt.render(sessions, **extra), out.write)
            except OSError as exc:
                raise CommandError(f"Cannot write {options['out']}: {exc}") from None
            unit = "line" if fmt.name == "jsonl" else "row"
            self.stderr.write(f"Wrote {count} {unit}(s) to {options['out']}.")
        else:
            self._write(fmt.render(sessions, **extra), lambda s: self.stdout.write(s, ending=""))

    @staticmethod
    def _write(chunks, write) -> int:
        count = 0
        for chunk in chunks:
            write(chunk)
            count += 1
        return count
