"""Correct the text of a post of a finished session, with the reason recorded (audited)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from deliberation.debates.models import Post
from deliberation.review import services


class Command(BaseCommand):
    help = (
        "Correct the text of post SEQ of finished session SESSION. The old and new text, the "
        "reason and the reviewer are kept as a review note; answers never change."
    )

    def add_arguments(self, parser):
        parser.add_argument("session", type=int, help="The session's id.")
        parser.add_argument("seq", type=int, help="The post's sequence number.")
        parser.add_argument("--text", required=True, help="The corrected text.")
        parser.add_argument("--reason", required=True, help="Why (kept in the audit trail).")
        parser.add_argument("--user", required=True, help="The reviewer's username.")

    def handle(self, *args, **opts):
        try:
            reviewer = get_user_model().objects.get(username=opts["user"], is_staff=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No staff user {opts['user']!r}.") from None
        post = Post.objects.filter(session_id=opts["session"], seq=opts["seq"]).first()
        if post is None:
            raise CommandError(f"Session {opts['session']} has no post #{opts['seq']}.")
        try:
            note = services.correct_post(post, reviewer, text=opts["text"], reason=opts["reason"])
        except services.CorrectionError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Corrected #{post.seq}; audit note {note.pk}.")
