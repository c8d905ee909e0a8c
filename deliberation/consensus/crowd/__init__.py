"""Crowd label aggregation, annotator quality and item difficulty (NumPy/SciPy, no Django).

Long-format labels (task, worker, label) become a :class:`LabelMatrix` of integer-coded parallel
arrays; each method returns an :class:`AggregationResult` (``labels``, ``confidence``,
``probas``, worker ``skill`` / ``confusion``, item ``difficulty``, ``iterations``,
``converged``). Methods: ``majority_vote``, ``wawa``, ``dawid_skene``, ``one_coin_dawid_skene``,
``glad``, ``mace``; plus ``top_two`` (two most likely answers and their confusion probability)
and ``project_alpha`` (Krippendorff's alpha of a project). CSV I/O in ``io``; the function
behind ``manage.py aggregate`` is ``cli.run_aggregation``. Speed and accuracy against Crowd-Kit:
``bench/README.md``.
"""

from .cli import METHODS, run_aggregation
from .dawid_skene import dawid_skene, one_coin_dawid_skene
from .encoding import LabelMatrix
from .glad import glad
from .io import CrowdDataError, read_gold, read_labels, write_results
from .mace import mace
from .majority import majority_vote, wawa
from .quality import project_alpha
from .result import AggregationResult
from .toptwo import TopTwoResult, top_two

__all__ = [
    "METHODS",
    "AggregationResult",
    "CrowdDataError",
    "LabelMatrix",
    "TopTwoResult",
    "dawid_skene",
    "glad",
    "mace",
    "majority_vote",
    "one_coin_dawid_skene",
    "project_alpha",
    "read_gold",
    "read_labels",
    "run_aggregation",
    "top_two",
    "wawa",
    "write_results",
]
