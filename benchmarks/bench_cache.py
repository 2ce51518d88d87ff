"""What the on-disk cache buys GridSearchCV: one search with n_jobs=2, run three times.

A pipeline ``Reconstruct3DMM(cache=FOLDER) -> StandardScaler -> SVC`` is searched over
``C`` with 3-fold CV and two worker processes. Run 1 starts from an empty folder: every
photo is reconstructed once and written there. Runs 2 and 3 are new searches (fresh worker
processes, the parent's in-memory cache cleared): they read the folder. The same search with
``cache=True`` (in-memory only) is timed too: each worker process starts empty, so photos
are reconstructed again in every worker and in the parent's final refit.

Photos: ``--photos FOLDER`` or, by default, renders of the synthetic KDEF-like set.

    python benchmarks/bench_cache.py --photos ../shared/realfaces/webmorph/neutral_front --limit 60
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import write_report
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sk3dmm import Reconstruct3DMM, clear_cache


def photos_and_labels(folder: str | None, limit: int):
    if folder:
        files = sorted(str(f) for f in Path(folder).iterdir() if f.suffix.lower() in (".jpg", ".png"))[:limit]
        return files, np.arange(len(files)) % 2, f"{len(files)} photos of {folder}"
    from sk3dmm.datasets import make_synthetic_faces

    faces = make_synthetic_faces(6, image_size=224, angles=("S",), random_state=0)
    return list(faces.images), faces.frame["gender"].to_numpy(), f"{len(faces.images)} synthetic renders"


def search(X, y, cache) -> float:
    clear_cache()
    pipe = make_pipeline(
        Reconstruct3DMM(coef="beta", cache=cache, on_error="nan", detector="hog"), StandardScaler(), SVC()
    )
    grid = GridSearchCV(pipe, {"svc__C": [0.1, 1.0, 10.0]}, cv=3, n_jobs=2, error_score="raise")
    t0 = time.perf_counter()
    grid.fit(X, y)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", default=None)
    p.add_argument("--limit", type=int, default=60)
    p.add_argument("--out", default="results/cache")
    args = p.parse_args()
    X, y, source = photos_and_labels(args.photos, args.limit)
    folder = Path(tempfile.mkdtemp(prefix="sk3dmm-cache-"))
    memory = search(X, y, True)
    disk = [search(X, y, folder) for _ in range(3)]
    data = {"source": source, "memory_only_s": memory, "disk_runs_s": disk, "machine": platform.machine()}
    text = "\n".join(
        [
            f"GridSearchCV (3 values of C x 3 folds, n_jobs=2) over Reconstruct3DMM -> SVC, {source}; "
            f"{platform.machine()}, 2 cores",
            "",
            "| cache | seconds |",
            "|---|---|",
            f"| in-memory only (each worker starts empty) | {memory:.1f} |",
            f"| folder, first search (empty folder) | {disk[0]:.1f} |",
            f"| folder, second search (new processes) | {disk[1]:.1f} |",
            f"| folder, third search | {disk[2]:.1f} |",
            "",
            f"Second search vs first: {disk[0] / disk[1]:.1f}x faster; vs in-memory only: {memory / disk[1]:.1f}x.",
        ]
    )
    write_report(args.out, "cache", text, data)


if __name__ == "__main__":
    main()
