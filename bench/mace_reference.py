"""Our MACE against the authors' program (github.com/dirkhovy/MACE, ``MACE.jar``), same data.

For each dataset (``NAME.labels.csv`` + ``NAME.gold.csv``): writes the authors' input format (one
line per item, one comma-separated column per worker, both in order of first appearance; a
worker's repeated label on the same item is dropped, since the format has one cell per pair),
runs ``java -jar MACE.jar`` with its defaults ``--runs`` times (it is unseeded), and runs our
``mace`` with its defaults on the same deduplicated rows. Prints accuracy of each and how many
items get the same label. Needs Java and a copy of ``MACE.jar``; run by hand:

    .venv/bin/python bench/mace_reference.py --jar /path/to/MACE.jar [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from _library import DATASETS, ROOT

from deliberation.consensus.crowd import LabelMatrix, mace, read_gold
from deliberation.consensus.crowd.io import read_label_rows


def authors_format(rows, path: Path) -> tuple[list[str], list[tuple[str, str, str]], int]:
    tasks = list(dict.fromkeys(t for t, _w, _l in rows))
    workers = list(dict.fromkeys(w for _t, w, _l in rows))
    column = {w: i for i, w in enumerate(workers)}
    cells: dict[tuple[str, int], str] = {}
    kept, dropped = [], 0
    for task, worker, label in rows:
        key = (task, column[worker])
        if key in cells:
            dropped += 1
            continue
        cells[key] = label
        kept.append((task, worker, label))
    with open(path, "w") as fh:
        for task in tasks:
            fh.write(",".join(cells.get((task, i), "") for i in range(len(workers))) + "\n")
    return tasks, kept, dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jar", required=True)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "crowd"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        "| dataset | repeated labels dropped | authors' MACE.jar (each run) | ours | same label |"
    )
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            rows = read_label_rows(Path(args.data) / f"{name}.labels.csv")
            gold = read_gold(Path(args.data) / f"{name}.gold.csv")
            csv_path = Path(tmp) / f"{name}.csv"
            tasks, kept, dropped = authors_format(rows, csv_path)
            ours = mace(LabelMatrix.from_rows(kept))
            ours_labels = {t: str(v) for t, v in ours.labels.items()}
            accs, same = [], []
            for run in range(args.runs):
                prefix = Path(tmp) / f"{name}.{run}"
                subprocess.run(
                    ["java", "-jar", args.jar, "--prefix", str(prefix), str(csv_path)],
                    check=True,
                    capture_output=True,
                )
                lines = Path(f"{prefix}.prediction").read_text().split("\n")
                pred = dict(zip(tasks, lines, strict=False))
                accs.append(sum(pred.get(t) == str(g) for t, g in gold.items()) / len(gold))
                same.append(sum(pred[t] == ours_labels[t] for t in tasks))
            print(
                f"| {name} | {dropped} | {', '.join(f'{a:.4f}' for a in accs)} | "
                f"{ours.accuracy(gold):.4f} | {', '.join(map(str, same))} of {len(tasks)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
