"""CSV input and output in the long format: labels ``task,worker,label``, gold ``task,label``,
results ``task,label,confidence``. Values are kept as strings; errors name the file and line."""

from __future__ import annotations

import csv
import os
from collections.abc import Hashable, Iterator, Mapping, Sequence

from .encoding import LabelMatrix
from .result import AggregationResult

LABEL_COLUMNS = ("task", "worker", "label")
GOLD_COLUMNS = ("task", "label")
RESULT_COLUMNS = ("task", "label", "confidence")


class CrowdDataError(ValueError):
    """A labels or gold file that cannot be read; the message names the file and the line."""


def _rows(path: str | os.PathLike, columns: Sequence[str]) -> Iterator[tuple[int, tuple[str, ...]]]:
    """Yield (line number, values of ``columns``) for each data row. The header must name every
    column in ``columns`` (in any order; other columns are ignored). Blank lines are skipped."""
    name = os.fspath(path)
    try:
        handle = open(name, newline="", encoding="utf-8-sig")  # noqa: SIM115
    except OSError as exc:
        raise CrowdDataError(f"{name}: cannot open: {exc.strerror or exc}") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CrowdDataError(f"{name}:1: unreadable header: {exc}") from exc
        if header is None:
            raise CrowdDataError(f"{name}: empty file; expected a header {','.join(columns)}")
        header = [h.strip() for h in header]
        missing = [c for c in columns if c not in header]
        if missing:
            raise CrowdDataError(
                f"{name}:1: header must have the columns {','.join(columns)}; "
                f"missing {','.join(missing)} (got {','.join(header)})"
            )
        if len(set(header)) != len(header):
            raise CrowdDataError(f"{name}:1: repeated column name in header")
        pos = [header.index(c) for c in columns]
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not v.strip() for v in row):
                    continue
                if len(row) != len(header):
                    raise CrowdDataError(
                        f"{name}:{line}: expected {len(header)} fields, got {len(row)}"
                    )
                values = tuple(row[p].strip() for p in pos)
                for col, value in zip(columns, values, strict=True):
                    if not value:
                        raise CrowdDataError(f"{name}:{line}: empty {col}")
                yield line, values
        except csv.Error as exc:
            raise CrowdDataError(f"{name}:{reader.line_num}: malformed CSV: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise CrowdDataError(f"{name}: not UTF-8 text: {exc}") from exc


def read_label_rows(path: str | os.PathLike) -> list[tuple[str, str, str]]:
    """The ``(task, worker, label)`` rows of a long-format labels CSV."""
    rows = [values for _, values in _rows(path, LABEL_COLUMNS)]
    if not rows:
        raise CrowdDataError(f"{os.fspath(path)}: no label rows")
    return rows  # type: ignore[return-value]


def read_labels(path: str | os.PathLike, labels: Sequence[Hashable] | None = None) -> LabelMatrix:
    """A :class:`LabelMatrix` from a ``task,worker,label`` CSV file."""
    return LabelMatrix.from_rows(read_label_rows(path), labels=labels)


def read_gold(path: str | os.PathLike) -> dict[str, str]:
    """``task -> gold label`` from a ``task,label`` CSV. A task listed twice with different labels
    is an error; an exact repeat is accepted."""
    gold: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, (task, label) in _rows(path, GOLD_COLUMNS):
        if task in gold and gold[task] != label:
            raise CrowdDataError(
                f"{os.fspath(path)}:{line}: task {task!r} already has gold label "
                f"{gold[task]!r} (line {first_line[task]}), got {label!r}"
            )
        gold[task] = label
        first_line.setdefault(task, line)
    return gold


def write_results(result: AggregationResult, path: str | os.PathLike) -> None:
    """Write ``task,label,confidence`` (one row per task, in task order)."""
    conf = result.confidence
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_COLUMNS)
        for task, label in result.labels.items():
            writer.writerow([task, label, f"{conf[task]:.6f}"])


def write_label_rows(rows: Sequence[tuple[Hashable, Hashable, Hashable]], path) -> None:
    """Write ``task,worker,label`` rows (the inverse of :func:`read_label_rows`)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LABEL_COLUMNS)
        writer.writerows(rows)


def write_gold(gold: Mapping[Hashable, Hashable], path) -> None:
    """Write ``task,label`` rows (the inverse of :func:`read_gold`)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(GOLD_COLUMNS)
        writer.writerows(gold.items())
