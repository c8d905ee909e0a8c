"""Integer coding of long-format crowd labels: rows of (task, worker, label) become three parallel
index arrays (a sparse task x worker matrix of label codes) plus the decoding tables.

Every aggregation method in this package takes a :class:`LabelMatrix`. Repeated labels by the same
worker on the same task are kept as separate observations (as Crowd-Kit does).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


def _factorize(values: Iterable[Hashable]) -> tuple[list[Hashable], np.ndarray]:
    """Codes in order of first appearance: (uniques, int64 codes)."""
    index: dict[Hashable, int] = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return list(index), np.asarray(codes, dtype=np.int64)


def _label_sort_key(value: Hashable) -> tuple:
    """Numbers (and strings that are integers, like "3") sort numerically, before other values;
    everything else sorts by its string form. Used so that label order, and therefore tie-breaking
    ("the first label wins"), does not depend on row order."""
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, int | float | np.integer | np.floating):
        return (0, float(value), "")
    text = str(value)
    try:
        return (0, float(int(text.strip())), text)
    except ValueError:
        return (1, 0.0, text)


def sort_labels(values: Iterable[Hashable]) -> list[Hashable]:
    """The canonical label order of this package (see ``_label_sort_key``)."""
    return sorted(set(values), key=_label_sort_key)


@dataclass(frozen=True, eq=False)
class LabelMatrix:
    """Crowd labels as integer-coded parallel arrays.

    ``task_idx[n]``, ``worker_idx[n]``, ``label_idx[n]`` describe observation ``n``; they index
    ``tasks``, ``workers`` and ``labels``. Tasks and workers keep their order of first appearance;
    labels are in canonical order (numeric labels numerically, then others by string), so ties are
    broken the same way whatever the row order.
    """

    tasks: tuple[Hashable, ...]
    workers: tuple[Hashable, ...]
    labels: tuple[Hashable, ...]
    task_idx: np.ndarray
    worker_idx: np.ndarray
    label_idx: np.ndarray
    _task_pos: dict = field(default_factory=dict, repr=False)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_rows(
        cls,
        rows: Iterable[tuple[Hashable, Hashable, Hashable]],
        labels: Sequence[Hashable] | None = None,
    ) -> LabelMatrix:
        """Build from ``(task, worker, label)`` rows. ``labels`` fixes the label set and its order
        (e.g. to include a class nobody chose); otherwise it is the observed labels, sorted."""
        rows = list(rows)
        for n, row in enumerate(rows):
            if len(row) != 3:
                raise ValueError(f"row {n}: expected (task, worker, label), got {row!r}")
        if not rows:
            return cls.from_arrays([], [], [], labels=labels)
        tasks, workers, values = zip(*rows, strict=True)
        return cls.from_arrays(tasks, workers, values, labels=labels)

    @classmethod
    def from_arrays(
        cls,
        tasks: Sequence[Hashable],
        workers: Sequence[Hashable],
        values: Sequence[Hashable],
        labels: Sequence[Hashable] | None = None,
    ) -> LabelMatrix:
        """Build from three parallel sequences (task, worker and label of each observation)."""
        if not (len(tasks) == len(workers) == len(values)):
            raise ValueError("tasks, workers and labels must have the same length")
        task_names, task_idx = _factorize(tasks)
        worker_names, worker_idx = _factorize(workers)
        if labels is None:
            label_names = sort_labels(values)
        else:
            label_names = list(labels)
            if len(set(label_names)) != len(label_names):
                raise ValueError("labels must not repeat")
        label_pos = {v: i for i, v in enumerate(label_names)}
        try:
            label_idx = np.fromiter((label_pos[v] for v in values), np.int64, len(values))
        except KeyError as exc:
            raise ValueError(f"label {exc.args[0]!r} is not in the given label set") from None
        return cls(
            tuple(task_names),
            tuple(worker_names),
            tuple(label_names),
            task_idx,
            worker_idx,
            label_idx,
            {t: i for i, t in enumerate(task_names)},
        )

    # -- sizes --------------------------------------------------------------------------------
    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def n_obs(self) -> int:
        return int(self.task_idx.size)

    # -- derived arrays (cached) ----------------------------------------------------------------
    @cached_property
    def counts(self) -> np.ndarray:
        """``(n_tasks, n_labels)`` float array: how many times each task received each label."""
        k = self.n_labels
        flat = np.bincount(self.task_idx * k + self.label_idx, minlength=self.n_tasks * k)
        return flat.reshape(self.n_tasks, k).astype(float)

    @cached_property
    def label_totals(self) -> np.ndarray:
        """How many times each label was given, over all tasks (the empirical class prior)."""
        return np.bincount(self.label_idx, minlength=self.n_labels).astype(float)

    @cached_property
    def worker_counts(self) -> np.ndarray:
        """Number of labels given by each worker."""
        return np.bincount(self.worker_idx, minlength=self.n_workers).astype(float)

    @cached_property
    def task_label_flat(self) -> np.ndarray:
        """``task_idx * n_labels + label_idx``: the flat (task, label) cell of each observation."""
        return self.task_idx * self.n_labels + self.label_idx

    @cached_property
    def worker_label_flat(self) -> np.ndarray:
        """``worker_idx * n_labels + label_idx``: the flat (worker, label) cell of each label."""
        return self.worker_idx * self.n_labels + self.label_idx

    def task_index(self, task: Hashable) -> int:
        return self._task_pos[task]

    # -- gold ---------------------------------------------------------------------------------
    def encode_gold(
        self, gold: Mapping[Hashable, Hashable] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gold labels as (task indices, label indices). Gold tasks that have no crowd label are
        skipped (there is nothing to pin); a gold label outside the label set is an error (build
        the matrix with ``labels=`` including it)."""
        if not gold:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        label_pos = {v: i for i, v in enumerate(self.labels)}
        t_idx, l_idx = [], []
        for task, label in gold.items():
            pos = self._task_pos.get(task)
            if pos is None:
                continue
            if label not in label_pos:
                raise ValueError(
                    f"gold label {label!r} of task {task!r} is not one of the labels "
                    f"{list(self.labels)!r}"
                )
            t_idx.append(pos)
            l_idx.append(label_pos[label])
        return np.asarray(t_idx, np.int64), np.asarray(l_idx, np.int64)

    def reliability_data(self) -> np.ndarray:
        """``(n_workers, n_tasks)`` float matrix of label codes with NaN where a worker did not
        label a task (the layout Krippendorff's alpha takes). A worker's repeated label on the same
        task keeps the last one."""
        out = np.full((self.n_workers, self.n_tasks), np.nan)
        out[self.worker_idx, self.task_idx] = self.label_idx
        return out
