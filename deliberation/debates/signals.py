"""Signals other apps listen to, so the debate engine does not import them.

``session_finished`` is sent after the transaction that finished a session commits (batch runs
start their next question on it); ``session_changed`` after every transaction that changed one.
"""

from django.dispatch import Signal

session_finished = Signal()  # kwargs: id (the session's primary key)

# Sent after a transaction that changed a session (a protocol event, a private opinion)
# commits, so derived views (live metrics) recompute once per change, not once per viewer.
session_changed = Signal()  # kwargs: id

# Sent inside the transaction that closed a round (the session row is locked), once per round,
# so that receivers add their rows to that transaction: the agents app asks its agent debaters
# for their private opinions when the session's ``agent_opinions`` setting is on.
round_closed = Signal()  # kwargs: session (the DebateSession), number (the round's number)
