"""``manage.py aggregate LABELS.csv --method ds [--gold GOLD.csv] [--out OUT.csv]``.

Aggregates any file of crowd labels in the long format ``task,worker,label`` (no project
needed) with the pure library; writes ``task,label,confidence`` (to ``--out``, or to standard
output) and prints the accuracy against ``--gold`` (``task,label``) when given.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from deliberation.consensus.crowd import METHODS, CrowdDataError, run_aggregation


class Command(BaseCommand):
    help = "Aggregate crowd labels (task,worker,label) with mv, wawa, ds, onecoin, glad or mace."

    def add_arguments(self, parser):
        parser.add_argument("labels", help="CSV file with columns task,worker,label")
        parser.add_argument("--method", choices=sorted(METHODS), default="ds")
        parser.add_argument("--gold", help="CSV file with columns task,label: print accuracy")
        parser.add_argument("--out", help="write task,label,confidence here (default: stdout)")
        parser.add_argument("--seed", type=int, help="random seed (methods that use one)")
        parser.add_argument("--tol", type=float, help="convergence tolerance")
        parser.add_argument("--max-iter", type=int, help="iteration cap")
        parser.add_argument(
            "--prior-correct",
            type=float,
            help="ds and onecoin: MAP variant with this many pseudo-answers on the diagonal "
            "(default 0: maximum likelihood, Dawid & Skene 1979)",
        )
        parser.add_argument(
            "--pin-gold",
            action="store_true",
            help="fix the gold tasks' truth during fitting (the accuracy is then not honest)",
        )

    def handle(self, *args, **options):
        params = {
            name: options[key]
            for name, key in (
                ("seed", "seed"),
                ("tol", "tol"),
                ("max_iter", "max_iter"),
                ("prior_correct", "prior_correct"),
            )
            if options[key] is not None
        }
        if "prior_correct" in params and options["method"] not in ("ds", "onecoin"):
            raise CommandError("--prior-correct applies to ds and onecoin only")
        try:
            result, accuracy = run_aggregation(
                options["labels"],
                options["method"],
                options["gold"],
                options["out"],
                pin_gold=options["pin_gold"],
                **params,
            )
        except (CrowdDataError, OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if options["out"] is None:
            self.stdout.write("task,label,confidence")
            for task, label in result.labels.items():
                self.stdout.write(f"{task},{label},{result.confidence[task]:.6f}")
        summary = (
            f"{options['method']}: {len(result.labels)} tasks, {len(result.matrix.workers)} "
            f"workers, {result.iterations} iterations"
            + ("" if result.converged else " (stopped at the iteration cap)")
        )
        if accuracy is not None:
            summary += f"; accuracy against gold: {accuracy:.4f}"
        # Results may go to stdout: the summary goes to stderr, so piping stays clean.
        (self.stdout if options["out"] else self.stderr).write(summary)
