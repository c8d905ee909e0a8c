"""Database ids inside stored JSON, swapped for stable references and back.

An export must not depend on primary keys (an import gives new ones), yet a few JSON values
hold participant or turn ids: "ids" protocol settings (a speaking order), moderator events
(``participant``, ``target``, a ``set`` of an ids setting) and metrics (``id``, ``participant``,
``turn``). The same walkers serve both directions: the exporter maps ids to keys ("p0", "t3"),
the importer maps keys back to the new ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deliberation.protocols.registry import get_protocol

Mapper = Callable[[Any], Any]

PARTICIPANT_DATA_KEYS = ("participant", "target")
METRIC_PARTICIPANT_KEYS = ("id", "participant")
METRIC_TURN_KEYS = ("turn",)


def participant_key(index: int) -> str:
    return f"p{index}"


def turn_key(index: int) -> str:
    return f"t{index}"


def ids_settings(protocol: str) -> set[str]:
    """Names of the protocol's settings that hold participant ids."""
    try:
        proto = get_protocol(protocol)
    except KeyError:
        return set()
    return {s.name for s in proto.all_settings if s.kind == "ids"}


def map_settings(protocol: str, settings: dict[str, Any], to: Mapper) -> dict[str, Any]:
    names = ids_settings(protocol)
    return {
        name: [to(v) for v in value] if name in names and isinstance(value, list) else value
        for name, value in (settings or {}).items()
    }


def map_post_data(protocol: str, kind: str, data: dict[str, Any], to: Mapper) -> dict[str, Any]:
    """Event posts name participants by id; other posts' data (e.g. a review score) has none."""
    if kind != "event" or not isinstance(data, dict):
        return data
    out = dict(data)
    for key in PARTICIPANT_DATA_KEYS:
        if out.get(key) is not None:
            out[key] = to(out[key])
    is_ids = out.get("event") == "set" and out.get("name") in ids_settings(protocol)
    if is_ids and isinstance(out.get("value"), list):
        out["value"] = [to(v) for v in out["value"]]
    return out


def map_metrics(value: Any, participant: Mapper, turn: Mapper) -> Any:
    """Walk a metrics dict, swapping the values of ``id``/``participant`` and ``turn`` keys."""
    if isinstance(value, list):
        return [map_metrics(v, participant, turn) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in METRIC_PARTICIPANT_KEYS and _is_ref(item):
            out[key] = participant(item)
        elif key in METRIC_TURN_KEYS and _is_ref(item):
            out[key] = turn(item)
        else:
            out[key] = map_metrics(item, participant, turn)
    return out


def _is_ref(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)
