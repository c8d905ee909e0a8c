"""The shared session fixtures (tests/sessions.py)."""

from tests.sessions import (  # noqa: F401
    _clear_metrics_cache,
    people_session,
    review_session,
    rich_session,
)
