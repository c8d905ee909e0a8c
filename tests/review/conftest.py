"""The shared session fixtures (tests/sessions.py)."""

from tests.sessions import _clear_metrics_cache, people_session, rich_session  # noqa: F401
