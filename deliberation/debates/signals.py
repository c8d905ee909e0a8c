"""Signals other apps listen to, so the debate engine does not import them.

``session_finished`` is sent after the transaction that finished a session commits (batch runs
start their next question on it); ``session_changed`` after every transaction that changed one.
"""

from django.dispatch import Signal

session_finished = Signal()  # kwargs: id (the session's primary key)

# Sent after a transaction that changed a session (a protocol event, a private opinion)
# commits, so derived views (live metrics) recompute once per change, not once per viewer.
session_changed = Signal()  # kwargs: id
