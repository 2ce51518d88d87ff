"""The identity-from-sets rows of ``sk3dmm experiments`` over several seeds: residual MLP vs SVC.

Run: ``python benchmarks/bench_set_classifiers.py [--seeds 0 1 2 3 4] [--out results/set_classifiers]``

One seed of the main job's synthetic set validates on 9 photos per person (84 sets of 3 each,
every photo in 28 of them), so a row moves by points with the seed. This script renders the
main job's set (20 people, 160 px, angles S/HL/HR, R-Net on MediaPipe detections) for each
seed and runs the same sets-of-3 protocol (``sk3dmm.experiments.run_identity_sets``), so the
classifiers are compared over several draws of people and photos rather than one.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
from _report import write_report

from sk3dmm.experiments import COEF_MODEL, run_identity_sets, synthetic_faceset

MODELS = {COEF_MODEL: "residual MLP", "SVC (RBF)": "SVC", "logistic regression": "logistic reg."}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default="results/set_classifiers")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = []
    for seed in args.seeds:
        data = synthetic_faceset(20, 160, ("S", "HL", "HR"), seed, progress=False)
        result, _ = run_identity_sets(data, seed, progress=False)
        for r in result:
            if r["model"] in MODELS:
                rows.append(
                    {"seed": seed, "sets": r["input"], "model": MODELS[r["model"]], "accuracy": r["accuracy"]}
                )
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    frame = pd.DataFrame(rows).pivot_table(index=["sets", "seed"], columns="model", values="accuracy")
    frame["MLP - SVC"] = frame["residual MLP"] - frame["SVC"]
    lines = [
        "# Identity from sets of 3: residual MLP vs SVC over seeds",
        "",
        f"Main job's synthetic set per seed; {os.cpu_count()} CPU cores, {platform.machine()}; "
        f"{(time.perf_counter() - t0) / 60:.1f} min. Accuracy in %.",
        "",
        "| sets | seed | residual MLP | SVC | logistic reg. | MLP - SVC |",
        "|---|---|---|---|---|---|",
    ]
    for (sets, seed), r in frame.iterrows():
        lines.append(
            f"| {sets} | {seed} | {100 * r['residual MLP']:.1f} | {100 * r['SVC']:.1f} | "
            f"{100 * r['logistic reg.']:.1f} | {100 * r['MLP - SVC']:+.1f} |"
        )
    diff = 100 * frame["MLP - SVC"].to_numpy()
    lines += [
        "",
        f"MLP - SVC over all {len(diff)} rows: mean {diff.mean():+.2f}, min {diff.min():+.1f}, "
        f"rows below -1: {int(np.sum(diff < -1))}.",
    ]
    for sets, part in frame.groupby(level="sets"):
        d = 100 * part["MLP - SVC"].to_numpy()
        lines.append(
            f"- {sets}: mean {d.mean():+.2f} (MLP {100 * part['residual MLP'].mean():.1f}, SVC {100 * part['SVC'].mean():.1f})"
        )
    write_report(args.out, "set_classifiers", "\n".join(lines), frame.reset_index().to_dict("records"))


if __name__ == "__main__":
    main()
