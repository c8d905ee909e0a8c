"""Signals of batch runs, so other apps react without being imported here.

``batch_finished`` is sent after the transaction that marked a run finished commits
(kwargs: ``id``, the run's primary key).
"""

from django.dispatch import Signal

batch_finished = Signal()
