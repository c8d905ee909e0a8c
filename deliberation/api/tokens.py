"""Issuing, checking and revoking personal API tokens.

A key is ``dlb_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 hash is
stored, so a database leak reveals no usable key; a lookup by hash takes the same time whatever
the key, so timing says nothing about stored keys.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from .models import ApiToken

KEY_PREFIX = "dlb_"
SHOWN_CHARS = 12
# Writing last_used_at on every request would turn each read into a write.
LAST_USED_PRECISION = timedelta(minutes=1)
MAX_ACTIVE_TOKENS = 50


class TokenError(ValueError):
    pass


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue(user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the key (shown to the user once)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("Name the token (what or where it is used).")
    if len(name) > 100:
        raise TokenError("A token name has at most 100 characters.")
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
        raise TokenError(f"At most {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:SHOWN_CHARS], key_hash=hash_key(key)
    )
    return token, key


def user_for_key(key: str):
    """The active user behind an active token, or None; notes when the token was used."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def revoke(user, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s tokens (idempotent); raises TokenError if it is not theirs."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise TokenError("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
