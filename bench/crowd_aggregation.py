"""Label aggregation benchmark: deliberation.consensus.crowd against Crowd-Kit, same process.

For each dataset in the data directory (``NAME.labels.csv`` + ``NAME.gold.csv``) and each method
(mv, wawa, ds, onecoin, glad, mace): accuracy against gold and wall time (best of ``--repeat``
runs) of our implementation with its defaults (timing includes integer-coding the rows) and of
``crowdkit.aggregation``'s class of the same name with its defaults (timing from a ready
DataFrame). For ds and onecoin the table also gives our MAP variant (``prior_correct=2``, the
old default, which was picked on these files; not a default any more). Prints a Markdown table.
Needs the ``bench`` extra (``pip install -e '.[bench]'``), or any venv with crowd-kit: the
library is pure NumPy/SciPy, so without Celery installed the ``deliberation`` package is
loaded without its ``__init__`` (which only wires up Celery). Run by hand:

    .venv/bin/python bench/crowd_aggregation.py [--data DIR] [--repeat N] [--methods mv,ds]
    PYTHONPATH=. /tmp/ckvenv/bin/python bench/crowd_aggregation.py   # throwaway crowd-kit venv
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _library import DATASETS, ROOT

from deliberation.consensus.crowd import METHODS, LabelMatrix, read_gold
from deliberation.consensus.crowd.io import read_label_rows

TARGET_SPEEDUP = {"ds": 3.0, "glad": 10.0, "mace": 10.0}
MAP_VARIANT = {"ds": {"prior_correct": 2.0}, "onecoin": {"prior_correct": 2.0}}


def crowdkit_classes():
    warnings.filterwarnings("ignore")
    import crowdkit.aggregation.classification.wawa as ck_wawa
    from crowdkit.aggregation import GLAD, MACE, DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa

    # Crowd-Kit 1.4's Wawa.predict calls sklearn's check_is_fitted, which fails on
    # scikit-learn >= 1.6 (no __sklearn_tags__). The check only guards against calling predict
    # before fit; fit_predict always fits first, so we disable it.
    ck_wawa.check_is_fitted = lambda *args, **kwargs: None
    classes = {
        "mv": MajorityVote,
        "wawa": Wawa,
        "ds": DawidSkene,
        "onecoin": OneCoinDawidSkene,
        "glad": GLAD,
        "mace": MACE,
    }
    return classes


def best_time(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def accuracy(pred: dict, gold: dict) -> float:
    return float(np.mean([str(pred.get(t)) == str(label) for t, label in gold.items()]))


def mace_row_order(mace_cls, args) -> None:
    """Crowd-Kit 1.4's MACE codes labels by first appearance (pd.factorize) but its strategy
    counts by sorted label (groupby/unstack), so its answer depends on row order. Show it."""
    print()
    print("| dataset | Crowd-Kit MACE, file order | Crowd-Kit MACE, rows sorted by label |")
    print("| --- | --- | --- |")
    for name in args.datasets.split(","):
        frame = pd.read_csv(Path(args.data) / f"{name}.labels.csv", dtype=str)
        gold = pd.Series(read_gold(Path(args.data) / f"{name}.gold.csv"))
        accs = []
        for data in (frame, frame.sort_values("label", kind="stable")):
            labels = mace_cls().fit_predict(data[["task", "worker", "label"]])
            accs.append(float((labels.reindex(gold.index) == gold).mean()))
        print(f"| {name} | {accs[0]:.4f} | {accs[1]:.4f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "crowd"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--mace-row-order",
        action="store_true",
        help="only run Crowd-Kit's MACE on each file as given and with rows sorted by label",
    )
    args = parser.parse_args()
    methods = args.methods.split(",")
    ck = crowdkit_classes()
    from importlib.metadata import version

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {version('scipy')}, pandas {pd.__version__}, crowd-kit {version('crowd-kit')}, "
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or ''}".rstrip(", ")
    )
    if args.mace_row_order:
        mace_row_order(ck["mace"], args)
        return
    print()
    print(
        "| dataset | method | accuracy (ours) | ours, MAP variant | accuracy (Crowd-Kit) | "
        "time ours | time Crowd-Kit | speed-up | targets |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    misses = []
    for name in args.datasets.split(","):
        labels_path = Path(args.data) / f"{name}.labels.csv"
        gold = read_gold(Path(args.data) / f"{name}.gold.csv")
        rows = read_label_rows(labels_path)
        frame = pd.read_csv(labels_path, dtype=str)[["task", "worker", "label"]]
        gold_series = pd.Series(gold)
        for method in methods:
            fit = METHODS[method]

            def ours(fit=fit, rows=rows):
                return fit(LabelMatrix.from_rows(rows))

            t_ours, result = best_time(ours, args.repeat)
            t_ck, ck_labels = best_time(
                lambda m=method, f=frame: ck[m]().fit_predict(f), args.repeat
            )
            acc_ours = result.accuracy(gold)
            if method in MAP_VARIANT:
                matrix = LabelMatrix.from_rows(rows)
                acc_map = f"{fit(matrix, **MAP_VARIANT[method]).accuracy(gold):.4f}"
            else:
                acc_map = "-"
            acc_ck = float((ck_labels.reindex(gold_series.index) == gold_series).mean())
            speedup = t_ck / t_ours
            ok_acc = acc_ours >= acc_ck
            ok_speed = speedup >= TARGET_SPEEDUP.get(method, 0.0)
            flag = ("acc ok" if ok_acc else "ACC BELOW") + (
                "" if method not in TARGET_SPEEDUP else (", speed ok" if ok_speed else ", SLOW")
            )
            if not (ok_acc and ok_speed):
                misses.append((name, method))
            print(
                f"| {name} | {method} | {acc_ours:.4f} | {acc_map} | {acc_ck:.4f} | "
                f"{t_ours * 1e3:.1f} ms | "
                f"{t_ck * 1e3:.1f} ms | {speedup:.0f}x | {flag} |",
                flush=True,
            )
    print()
    print("targets missed:", ", ".join(f"{d}/{m}" for d, m in misses) or "none")


if __name__ == "__main__":
    main()
