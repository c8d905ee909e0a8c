"""Signing and verifying webhook bodies (HMAC-SHA256, as Stripe and GitHub do).

The signature covers the timestamp and the body, ``HMAC-SHA256(secret, f"{timestamp}.{body}")``
in hex, sent as ``X-Deliberation-Signature: sha256=<hex>`` with ``X-Deliberation-Timestamp``
(Unix seconds). A receiver recomputes it, compares in constant time, and rejects old
timestamps so a captured request cannot be replayed later. Stdlib only: receivers can copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes,
    header: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True if ``header`` signs ``timestamp`` and ``body`` and the timestamp is recent."""
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(age) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header or "")
