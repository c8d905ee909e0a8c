"""The session WebSocket: transport only (parse, authorise, call a service, render).

One endpoint per session, ``/ws/sessions/<id>/``, speaks two formats chosen at connect time with
``?format=``: ``json`` (the documented protocol for scripts, docs/websocket-protocol.md) or
``html`` (fragments with ``hx-swap-oob`` for htmx's ws extension). A client passes
``?last_seq=N`` to receive every post after N, once and in order, before live posts.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string

from deliberation.storable import unstorable

from . import access, broadcast, controls, engine, services
from .presentation import (
    Viewer,
    hidden_posts,
    may_watch,
    present,
    present_state,
    present_turn,
    sealed,
)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
MAX_CLIENT_MSG_ID = 64  # as the API (PostCreateSerializer.client_msg_id)
MAX_FRAME_DEPTH = 16  # nesting of objects and lists in one frame; ours need 3


def _depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests (stops counting past ``limit``)."""
    if limit < 0 or not isinstance(value, dict | list):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(item, limit - 1) for item in items), default=0)


def _session_id(raw: Any) -> int | None:
    """The id in the URL, or None when it is not one (``/ws/sessions/abc/``)."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value < 2**63 else None


class SessionConsumer(AsyncWebsocketConsumer):
    session_id: int
    participant: Any
    last_sent: int
    fmt: str
    viewer: Viewer
    sealed: dict[int, tuple[int | None, str]]  # seq -> (round, "round" | "finish")

    # --- connection --------------------------------------------------------------------------
    async def connect(self) -> None:
        user = self.scope.get("user")
        session_id = _session_id(self.scope["url_route"]["kwargs"].get("session_id"))
        if session_id is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.session_id = session_id
        if not getattr(user, "is_authenticated", False):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.participant = await database_sync_to_async(services.participant_for)(
            self.session_id, user
        )
        if self.participant is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.viewer = await database_sync_to_async(Viewer.of)(self.participant)
        self.sealed = {}
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.fmt = "html" if query.get("format", ["json"])[0] == "html" else "json"
        await self.channel_layer.group_add(broadcast.group_name(self.session_id), self.channel_name)
        await self.accept()
        try:
            since = int(query.get("last_seq", [""])[0])
        except ValueError:
            since = None
        if since is None or since < 0:
            # No position given: deliver only what is posted from now on.
            self.last_sent = await database_sync_to_async(services.last_seq)(self.session_id)
        else:
            self.last_sent = since
            await self._send_posts_upto(None)
        if self.fmt == "json":
            # The state as this viewer sees it: a client that reconnects after its turn began
            # learns it here (``session.state`` is only sent when the state changes).
            state = await database_sync_to_async(self._current_state)()
            await self._send_json(
                {
                    "type": "welcome",
                    "participant": {
                        "id": self.participant.pk,
                        "name": self.participant.display_name,
                        "role": self.participant.role,
                        "kind": self.participant.kind,
                    },
                    "last_seq": self.last_sent,
                    "state": state,
                }
            )

    def _current_state(self) -> dict:
        return present_state(engine.state_data(self.participant.session), self.viewer)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "fmt"):
            await self.channel_layer.group_discard(
                broadcast.group_name(self.session_id), self.channel_name
            )

    # --- client -> server ----------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        limit = settings.DELIBERATION["MAX_FRAME_BYTES"]
        if bytes_data is not None:
            await self._error("malformed", "Binary frames are not supported; send JSON text.")
            return
        if len(text_data.encode()) > limit:
            await self._error("frame_too_large", f"Frames are limited to {limit} bytes.")
            return
        try:
            message = json.loads(text_data)
        except RecursionError:
            await self._error("malformed", "Frames may not nest this deeply.")
            return
        except ValueError:
            await self._error("malformed", "Frames must be JSON objects.")
            return
        if not isinstance(message, dict):
            await self._error("malformed", "Frames must be JSON objects.")
            return
        if _depth(message, MAX_FRAME_DEPTH) > MAX_FRAME_DEPTH:
            await self._error("malformed", "Frames may not nest this deeply.")
            return
        problem = unstorable(message)
        if problem:
            msg_id = message.get("client_msg_id")
            echo = msg_id if isinstance(msg_id, str) and not unstorable(msg_id) else None
            await self._error("malformed", f"Frames may not hold such text: {problem}.", echo)
            return
        if not await database_sync_to_async(access.still_member)(self.participant.pk):
            await self.close(code=CLOSE_FORBIDDEN)  # removed, or the account was deactivated
            return
        kind = message.get("type", "post")
        if kind == "post":
            await self._post(message)
        elif kind == "control":
            await self._control(message)
        elif kind == "opinion":
            await self._opinion(message)
        elif kind == "ping":
            await self._send_json({"type": "pong"})
        else:
            await self._error("unknown_type", f"Unknown message type {kind!r}.")

    async def _post(self, message: dict) -> None:
        client_msg_id = message.get("client_msg_id")
        text = message.get("text")
        if not isinstance(text, str):
            await self._error("malformed", "'text' must be a string.", client_msg_id)
            return
        if client_msg_id is not None and (
            isinstance(client_msg_id, bool)
            or not isinstance(client_msg_id, str | int | float)  # what the API accepts
            or len(str(client_msg_id)) > MAX_CLIENT_MSG_ID
        ):
            # Refused, never cut: two ids sharing their first 64 characters would collide.
            await self._error(
                "client_msg_id",
                f"'client_msg_id' must be a string of at most {MAX_CLIENT_MSG_ID} characters.",
                client_msg_id if isinstance(client_msg_id, str) else None,
            )
            return
        try:
            result = await database_sync_to_async(services.submit_post)(
                self.participant,
                text,
                client_msg_id=client_msg_id,
                answer=message.get("answer"),
                confidence=message.get("confidence"),
                score=message.get("score"),
                target_id=message.get("target"),
            )
        except services.ServiceError as exc:
            await self._error(exc.code, exc.message, client_msg_id)
            return
        if self.fmt == "html":
            # Acknowledge by giving the browser a fresh, empty post box with a new message id;
            # on an error the box is left as it was, so nothing typed is lost.
            await self.send(
                render_to_string(
                    "debates/ws/ack.html",
                    {
                        "client_msg_id": uuid.uuid4().hex,
                        "max_chars": settings.DELIBERATION["MAX_POST_CHARS"],
                        "is_moderator": self.participant.role == "moderator",
                        "role": self.participant.role,
                    },
                )
            )
            return
        await self._send_json(
            {
                "type": "ack",
                "client_msg_id": client_msg_id,
                "seq": result.post.seq,
                "duplicate": not result.created,
            }
        )

    async def _control(self, message: dict) -> None:
        params = {
            key: message[key]
            for key in ("participant_id", "seconds", "name", "value")
            if key in message
        }
        try:
            await database_sync_to_async(controls.control)(
                self.participant, str(message.get("action")), **params
            )
        except services.ServiceError as exc:
            await self._error(exc.code, exc.message)

    async def _opinion(self, message: dict) -> None:
        try:
            opinion = await database_sync_to_async(services.submit_opinion)(
                self.participant,
                answer=message.get("answer"),
                confidence=message.get("confidence"),
                note=message.get("note") if isinstance(message.get("note"), str) else "",
            )
        except services.ServiceError as exc:
            await self._error(exc.code, exc.message)
            return
        if self.fmt == "json":
            await self._send_json({"type": "opinion.saved", "round": opinion.round_id})
        else:
            await self.send(render_to_string("debates/ws/opinion_saved.html", {"opinion": opinion}))

    # --- group -> client -----------------------------------------------------------------------
    async def post_created(self, event: dict) -> None:
        seq = event["post"]["seq"]
        if seq <= self.last_sent:
            return  # already delivered by catch-up
        if seq == self.last_sent + 1:
            hidden = self.participant.pk in event.get("hidden_from", ())
            await self._send_post(event["post"], event.get("until") if hidden else None)
        else:
            # Broadcasts from different processes can arrive out of order: fill the gap from
            # the database (everything up to ``seq`` is committed) so order holds.
            await self._send_posts_upto(seq)

    async def session_state(self, event: dict) -> None:
        state = present_state(event["state"], self.viewer)
        if state["status"] == "finished" and self.sealed:
            await self._reveal(list(self.sealed))
        await self._send_event("session.state", state, "debates/ws/state.html", {"state": state})

    async def round_closed(self, event: dict) -> None:
        due = [
            seq
            for seq, (number, until) in self.sealed.items()
            if until == "round" and number == event["round"]
        ]
        if due:
            await self._reveal(due)

    async def access_revoked(self, event: dict) -> None:
        """This participant was removed or their account deactivated: close at once."""
        if self.participant.pk in event.get("participant_ids", ()):
            await self.close(code=CLOSE_FORBIDDEN)

    async def decision_published(self, event: dict) -> None:
        """The moderator published (or revised) the session's final answer."""
        if self.fmt == "json":
            await self._send_json({"type": "decision.published", "decision": event["decision"]})
        else:
            await self.send(event["html"])

    async def turn_started(self, event: dict) -> None:
        turn = present_turn(event, self.viewer)
        await self._send_event("turn.started", turn, "debates/ws/turn_started.html", {"turn": turn})

    async def turn_delta(self, event: dict) -> None:
        if not may_watch(event, self.viewer):
            return  # the text arrives with the post, when this viewer may see it
        if self.fmt == "json":
            await self._send_json(
                {"type": "turn.delta", "turn_id": event["turn_id"], "text": event["text"]}
            )
        else:
            await self.send(render_to_string("debates/ws/turn_delta.html", event))

    async def turn_reset(self, event: dict) -> None:
        if self.fmt == "json":
            await self._send_json({"type": "turn.reset", "turn_id": event["turn_id"]})
        else:
            await self.send(render_to_string("debates/ws/turn_reset.html", event))

    async def turn_ended(self, event: dict) -> None:
        if self.fmt == "json":
            await self._send_json(
                {"type": "turn.ended", "turn_id": event["turn_id"], "status": event["status"]}
            )
        else:
            await self.send(render_to_string("debates/ws/turn_ended.html", event))

    # --- helpers -------------------------------------------------------------------------------
    async def _send_posts_upto(self, upto: int | None) -> None:
        posts, hidden = await database_sync_to_async(self._posts_with_visibility)(upto)
        for post in posts:
            await self._send_post(post, hidden.get(post["seq"]))

    def _posts_with_visibility(self, upto: int | None) -> tuple[list[dict], dict[int, str]]:
        posts = services.posts_after(self.session_id, self.last_sent, upto)
        return posts, hidden_posts(self.participant.session, self.viewer, posts)

    async def _send_post(self, post: dict, sealed_until: str | None = None) -> None:
        self.last_sent = post["seq"]
        if sealed_until:
            self.sealed[post["seq"]] = (post["round"], sealed_until)
            shown = sealed(post, self.viewer, sealed_until)
        else:
            shown = present(post, self.viewer)
        if self.fmt == "json":
            await self._send_json({"type": "post", "post": shown})
        else:
            await self.send(
                render_to_string(
                    "debates/ws/post.html",
                    {
                        "post": shown,
                        "viewer_id": self.participant.pk,
                        "answer_format": self.participant.session.answer_format,
                    },
                )
            )

    async def _reveal(self, seqs: list[int]) -> None:
        """Send, in place of their placeholders, posts that this viewer may now see."""
        for seq in seqs:
            self.sealed.pop(seq, None)
        posts = await database_sync_to_async(services.posts_by_seq)(self.session_id, seqs)
        for post in posts:
            shown = present(post, self.viewer)
            if self.fmt == "json":
                await self._send_json({"type": "post.revealed", "post": shown})
            else:
                await self.send(
                    render_to_string(
                        "debates/ws/post_revealed.html",
                        {
                            "post": shown,
                            "viewer_id": self.participant.pk,
                            "answer_format": self.participant.session.answer_format,
                        },
                    )
                )

    async def _send_event(self, kind: str, data: dict, template: str, context: dict) -> None:
        if self.fmt == "json":
            key = "state" if kind == "session.state" else "turn"
            await self._send_json({"type": kind, key: data})
        else:
            context = {
                **context,
                "is_moderator": self.participant.role == "moderator",
                "viewer_id": self.participant.pk,
                "answer_format": self.participant.session.answer_format,
            }
            await self.send(render_to_string(template, context))

    async def _error(self, code: str, message: str, client_msg_id: Any = None) -> None:
        if self.fmt == "json":
            await self._send_json(
                {"type": "error", "code": code, "message": message, "client_msg_id": client_msg_id}
            )
        else:
            await self.send(
                render_to_string("debates/ws/error.html", {"code": code, "message": message})
            )

    async def _send_json(self, data: dict) -> None:
        if self.fmt == "json":
            await self.send(json.dumps(data))
