"""The moderator's live metrics socket: ``/ws/sessions/<id>/moderator/?format=html|json``.

Transport only. Only the session's moderator and staff may connect (close codes 4401 not logged
in, 4403 anyone else). On connect it sends the current metrics; then one message per
``metrics.updated`` broadcast, read from the cache that the change's receiver filled (see
``live``): the ``html`` format sends the panel rendered once per change, with ``hx-swap-oob``
for htmx's ws extension; ``json`` sends ``{"type": "metrics.updated", "metrics": {...}}``.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from deliberation.debates.models import DebateSession

from . import live, services

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _allowed_session(session_id: int, user) -> DebateSession | None:
    session = DebateSession.objects.filter(pk=session_id).first()
    if session is None or not services.can_moderate(user, session):
        return None
    return session


class ModeratorConsumer(AsyncWebsocketConsumer):
    session: DebateSession
    fmt: str
    group: str = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        if not getattr(user, "is_authenticated", False):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        session = await database_sync_to_async(_allowed_session)(session_id, user)
        if session is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.session = session
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.fmt = "html" if query.get("format", ["json"])[0] == "html" else "json"
        self.group = live.group_name(session_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await database_sync_to_async(live.watch)(session_id, 1)
        await self.accept()
        await self._send_current()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await database_sync_to_async(live.watch)(self.session.pk, -1)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Read-only socket: a ``ping`` is answered, anything else ignored."""
        if self.fmt == "json" and text_data and '"ping"' in text_data:
            await self.send(json.dumps({"type": "pong"}))

    async def metrics_updated(self, event: dict) -> None:
        await self._send_current()

    async def _send_current(self) -> None:
        entry = await database_sync_to_async(live.cached)(self.session)
        if self.fmt == "html":
            await self.send(entry["html"])
        else:
            await self.send(json.dumps({"type": "metrics.updated", "metrics": entry["metrics"]}))
