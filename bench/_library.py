"""Shared by the bench scripts: the consensus library importable without the project's Django
and Celery dependencies (a venv with only the benchmark's packages), and the dataset names."""

import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

try:  # the project package's __init__ imports Celery; the library below does not need it
    import deliberation  # noqa: F401
except ImportError:
    _pkg = types.ModuleType("deliberation")
    _pkg.__path__ = [str(ROOT / "deliberation")]
    sys.modules["deliberation"] = _pkg

DATASETS = ["rte", "temp", "wsd", "cf", "ms", "sp", "zencrowd_all"]
