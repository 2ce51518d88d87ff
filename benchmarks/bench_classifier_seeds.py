"""Every coefficient row of ``sk3dmm experiments`` over several seeds: residual MLP vs SVC.

Run: ``python benchmarks/bench_classifier_seeds.py [--seeds 0 1 2 3 4] [--out results/classifier_seeds]``

One seed of the main job's synthetic set is small (20 people; the sets-of-3 rows validate on 9
photos per person, every photo in 28 sets), so a row moves by points with the seed. This
script renders the main job's set (20 people, 160 px, angles S/HL/HR, R-Net on MediaPipe
detections) for each seed and runs the main job's protocols on it
(``sk3dmm.experiments.run_task`` without the pixel baseline, and ``run_identity_sets``), so the
classifiers are compared over several draws of people and photos rather than one.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time

import numpy as np
import pandas as pd
from _report import write_report

from sk3dmm.experiments import COEF_MODEL, TASKS, run_identity_sets, run_task, synthetic_faceset

MODELS = {COEF_MODEL: "residual MLP", "SVC (RBF)": "SVC", "logistic regression": "logistic reg."}


def _row_name(result: dict) -> str:
    """A row's name without the photo counts the scaled protocols put in (they vary by seed)."""
    scheme = re.sub(r"\d+/\d+ photos", "a/b photos", result["scheme"])
    return f"{result['task']}, {result['input']}, {scheme}"


def seed_rows(seed: int) -> list[dict]:
    """The main job's coefficient rows on the synthetic set of one seed."""
    data = synthetic_faceset(20, 160, ("S", "HL", "HR"), seed, progress=False)
    result = []
    for task in TASKS:
        rows, _ = run_task(
            data,
            task,
            n_splits=3,
            epochs=15,
            image_size=48,
            image_width=16,
            seed=seed,
            progress=False,
            paper_resnet=False,
            pixel_baseline=False,
        )
        result += rows
    result += run_identity_sets(data, seed, progress=False)[0]
    return [
        {"seed": seed, "row": _row_name(r), "model": MODELS[r["model"]], "accuracy": r["accuracy"]}
        for r in result
        if r["model"] in MODELS
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default="results/classifier_seeds")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = []
    for seed in args.seeds:
        rows += seed_rows(seed)
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    frame = pd.DataFrame(rows).pivot_table(
        index=["row", "seed"], columns="model", values="accuracy", sort=False
    )
    frame["MLP - SVC"] = frame["residual MLP"] - frame["SVC"]
    lines = [
        "# Coefficient classifiers over seeds: residual MLP vs SVC",
        "",
        f"Main job's synthetic set per seed; {os.cpu_count()} CPU cores, {platform.machine()}; "
        f"{(time.perf_counter() - t0) / 60:.1f} min. Accuracy in %.",
        "",
        "| row | seed | residual MLP | SVC | logistic reg. | MLP - SVC |",
        "|---|---|---|---|---|---|",
    ]
    for (row, seed), r in frame.iterrows():
        lines.append(
            f"| {row} | {seed} | {100 * r['residual MLP']:.1f} | {100 * r['SVC']:.1f} | "
            f"{100 * r['logistic reg.']:.1f} | {100 * r['MLP - SVC']:+.1f} |"
        )
    diff = 100 * frame["MLP - SVC"].to_numpy()
    lines += [
        "",
        f"MLP - SVC over all {len(diff)} rows: mean {diff.mean():+.2f}, min {diff.min():+.1f}, "
        f"rows below -1: {int(np.sum(diff < -1))}, rows at +1 or more: {int(np.sum(diff >= 1))}.",
    ]
    for row, part in frame.groupby(level="row", sort=False):
        d = 100 * part["MLP - SVC"].to_numpy()
        lines.append(
            f"- {row}: mean {d.mean():+.2f}, min {d.min():+.1f} "
            f"(MLP {100 * part['residual MLP'].mean():.1f}, SVC {100 * part['SVC'].mean():.1f})"
        )
    write_report(args.out, "classifier_seeds", "\n".join(lines), frame.reset_index().to_dict("records"))


if __name__ == "__main__":
    main()
