"""The export formats by name, with their content type and file extension (commands, views)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .exporting import iter_answers_csv, iter_jsonl, iter_posts_csv


@dataclass(frozen=True)
class ExportFormat:
    name: str
    render: Callable[..., Iterator[str]]
    content_type: str
    extension: str


FORMATS = {
    f.name: f
    for f in (
        ExportFormat("jsonl", iter_jsonl, "application/x-ndjson; charset=utf-8", "jsonl"),
        ExportFormat("posts_csv", iter_posts_csv, "text/csv; charset=utf-8", "posts.csv"),
        ExportFormat("answers_csv", iter_answers_csv, "text/csv; charset=utf-8", "answers.csv"),
    )
}


def parse_ids(value: str | None) -> list[int]:
    """Session ids from "1,2 3"; a ValueError names the first one that is not a number."""
    ids = []
    for part in (value or "").replace(",", " ").split():
        if not part.isdigit():
            raise ValueError(f"{part[:40]!r} is not a session id")
        ids.append(int(part))
    return ids
