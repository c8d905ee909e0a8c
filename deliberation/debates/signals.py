"""Signals other apps listen to, so the debate engine does not import them.

``session_finished`` is sent after the transaction that finished a session commits (batch runs
start their next question on it).
"""

from django.dispatch import Signal

session_finished = Signal()  # kwargs: id (the session's primary key)
