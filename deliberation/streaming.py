"""Streaming downloads that never hold the whole file in memory, under WSGI and ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

CHUNK_CHARS = 64 * 1024


def _take(lines: Iterator[str]) -> str:
    """The next lines, up to about ``CHUNK_CHARS`` characters ("" at the end)."""
    parts, total = [], 0
    for line in lines:
        parts.append(line)
        total += len(line)
        if total >= CHUNK_CHARS:
            break
    return "".join(parts)


async def _async_chunks(lines: Iterator[str]) -> AsyncIterator[str]:
    """Serve a database-reading generator under ASGI chunk by chunk.

    Given a sync iterator, Django's ASGI handler would read it whole into memory first; here
    each chunk is read in the sync thread (the same connection and server-side cursor).
    """
    take = sync_to_async(_take, thread_sensitive=True)
    while chunk := await take(lines):
        yield chunk


def download(request, lines: Iterator[str], content_type: str, filename: str):
    """A ``StreamingHttpResponse`` of ``lines`` as an attachment called ``filename``."""
    content = _async_chunks(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
