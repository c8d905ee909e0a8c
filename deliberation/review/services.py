"""Review actions on transcripts: flags, notes, anonymising people."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from deliberation.debates.models import DebateSession, Opinion, Participant, Post

from .models import Flag, ReviewNote

ANON_PREFIX = "anon-"


# --- flags and notes -----------------------------------------------------------------------------
def flag(session: DebateSession, reviewer, *, post: Post | None = None, reason="other", note=""):
    """Flag a session (or one of its posts) for attention."""
    if post is not None and post.session_id != session.pk:
        raise ValueError("The post is not in this session.")
    return Flag.objects.create(
        session=session, post=post, reason=reason, note=note, reviewer=reviewer
    )


def flag_sessions(sessions: Iterable[DebateSession], reviewer, reason="other", note="") -> int:
    with transaction.atomic():
        flags = [Flag(session=s, reason=reason, note=note, reviewer=reviewer) for s in sessions]
        Flag.objects.bulk_create(flags)
    return len(flags)


def resolve(flag_: Flag, reviewer) -> Flag:
    if flag_.resolved_at is None:
        flag_.resolved_at = timezone.now()
        flag_.resolved_by = reviewer
        flag_.save(update_fields=["resolved_at", "resolved_by"])
    return flag_


def add_note(session: DebateSession, reviewer, text: str, *, post: Post | None = None):
    text = (text or "").strip()
    if not text:
        raise ValueError("A note needs some text.")
    return ReviewNote.objects.create(session=session, post=post, text=text, reviewer=reviewer)


# --- corrections of finished transcripts ---------------------------------------------------------
class CorrectionError(ValueError):
    """A correction that cannot be made; the message says why."""


def correct_post(post: Post, reviewer, *, text: str, reason: str) -> ReviewNote:
    """Correct the text of a post of a finished session: the audited path.

    A finished transcript is read-only everywhere else (admin, API, WebSocket). A correction
    (a redaction, a typo that breaks a quote) keeps the original: the note records who changed
    which post, when, why, and the text before and after, in the session's review notes. The
    post's answer, sequence number, author and round never change: what was voted stays voted.
    """
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionError("A correction needs a reason.")
    if text is None or not text.strip():
        raise CorrectionError("The corrected text is empty.")
    with transaction.atomic():
        locked = Post.objects.select_for_update().select_related("session").get(pk=post.pk)
        if locked.session.status != DebateSession.Status.FINISHED:
            raise CorrectionError(
                "The session is still running: posts change only through the session itself."
            )
        if locked.text == text:
            raise CorrectionError("The text is unchanged.")
        note = ReviewNote.objects.create(
            session=locked.session,
            post=locked,
            reviewer=reviewer,
            text=(
                f"Correction of #{locked.seq} by {getattr(reviewer, 'username', 'system')}: "
                f"{reason}\n--- before ---\n{locked.text}\n--- after ---\n{text}"
            ),
        )
        Post.objects.filter(pk=locked.pk).update(text=text)
    return note


# --- anonymising people --------------------------------------------------------------------------
def anonymise_people(sessions: Iterable[DebateSession], reviewer) -> int:
    """Replace every person's name in the sessions, keep the transcript.

    Each person participant gets the pseudonym "Person N" (N by speaking position among the
    session's people) and a fresh inactive account (``anon-...``, unusable password) in place
    of theirs (also as the session's creator), so no name, username or e-mail links the
    transcript to them; every whole-word
    occurrence of their former display name or username in post texts and private-opinion notes
    becomes the pseudonym. Answers, confidences, sequence numbers and agents are untouched.
    Idempotent: people already anonymised are skipped. Returns how many people were changed.
    """
    users = get_user_model()
    changed = 0
    for session in sessions:
        with transaction.atomic():
            people = list(
                Participant.objects.select_for_update(of=("self",))
                .filter(session=session, kind=Participant.Kind.HUMAN)
                .select_related("user")
                .order_by("position", "id")
            )
            replacements: list[tuple[re.Pattern, str]] = []
            renamed = 0
            for n, person in enumerate(people, start=1):
                if person.user.get_username().startswith(ANON_PREFIX):
                    continue
                pseudonym = f"Person {n}"
                names = {person.display_name, person.user.get_username()}
                names |= {person.user.get_full_name()} - {""}
                for name in sorted(names, key=len, reverse=True):
                    if name.strip():
                        pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
                        replacements.append((pattern, pseudonym))
                stand_in = users.objects.create_user(
                    username=f"{ANON_PREFIX}{secrets.token_hex(8)}", is_active=False
                )
                stand_in.set_unusable_password()
                stand_in.save(update_fields=["password"])
                if session.created_by_id == person.user_id:
                    DebateSession.objects.filter(pk=session.pk).update(created_by=stand_in)
                person.user = stand_in
                person.display_name = pseudonym
                person.save(update_fields=["user", "display_name"])
                renamed += 1
            if not renamed:
                continue
            changed += renamed
            for post in Post.objects.filter(session=session).only("id", "text"):
                text = _replace(post.text, replacements)
                if text != post.text:
                    Post.objects.filter(pk=post.pk).update(text=text)
            for opinion in Opinion.objects.filter(session=session).only("id", "note"):
                note = _replace(opinion.note, replacements)
                if note != opinion.note:
                    Opinion.objects.filter(pk=opinion.pk).update(note=note)
            ReviewNote.objects.create(
                session=session,
                text=f"People anonymised: {renamed} renamed, their names replaced in the text.",
                reviewer=reviewer,
            )
    return changed


def _replace(text: str, replacements: list[tuple[re.Pattern, str]]) -> str:
    for pattern, pseudonym in replacements:
        text = pattern.sub(pseudonym, text)
    return text
