"""Reconstruct3DMM's ``n_jobs``: seconds for N photos with 1, 2 ... detection workers, cold
(a new process, models not loaded) and warm (models loaded, results not cached).

Photos: real ones from a folder (``--photos DIR``, e.g. ``../shared/realfaces/webmorph``) or, by
default, variants of ``skimage.data.astronaut()`` (crops, flips, scales), so it runs anywhere.

    python benchmarks/bench_n_jobs.py --n 20 60 --n-jobs 1 2
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_report  # noqa: E402

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from sk3dmm import Reconstruct3DMM
photos = list(np.load(sys.argv[1], allow_pickle=True)["photos"])
n_jobs = int(sys.argv[2])
t1 = time.perf_counter()
est = Reconstruct3DMM(cache=False, n_jobs=n_jobs)
X = est.fit_transform(photos)
t2 = time.perf_counter()
X2 = est.fit_transform(photos)
t3 = time.perf_counter()
assert np.array_equal(X, X2, equal_nan=True)
print(json.dumps({"import_s": t1 - t0, "cold_s": t2 - t1, "warm_s": t3 - t2, "rows": X.tolist()}))
"""


def astronaut_variants(n: int) -> list[np.ndarray]:
    from PIL import Image
    from skimage.data import astronaut

    rng = np.random.default_rng(0)
    base, out = astronaut(), []
    for _ in range(n):
        c = rng.integers(0, 60)
        img = base[c : 400 + c // 2, c // 2 : 420 + c]
        img = img[:, ::-1] if rng.random() < 0.5 else img
        scale = rng.uniform(0.7, 1.3)
        size = (int(img.shape[1] * scale), int(img.shape[0] * scale))
        out.append(np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size)))
    return out


def folder_photos(folder: str, n: int) -> list[np.ndarray]:
    from sk3dmm.faces import read_image

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [read_image(p) for p in files[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[20, 60])
    ap.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--photos", help="a folder of real photos (default: astronaut variants)")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    rows, lines = [], []
    for n in args.n:
        photos = folder_photos(args.photos, n) if args.photos else astronaut_variants(n)
        path = Path(args.out) / "n_jobs_photos.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, photos=np.array(photos, dtype=object))
        reference = None
        for n_jobs in args.n_jobs:
            res = json.loads(
                subprocess.run(
                    [sys.executable, "-c", CHILD, str(path), str(n_jobs)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.splitlines()[-1]
            )
            same = reference is None or np.array_equal(np.array(res["rows"]), reference, equal_nan=True)
            reference = np.array(res["rows"]) if reference is None else reference
            rows.append(
                {
                    "photos": len(photos),
                    "n_jobs": n_jobs,
                    **{k: res[k] for k in ("cold_s", "warm_s")},
                    "same_rows": same,
                }
            )
            lines.append(f"| {len(photos)} | {n_jobs} | {res['cold_s']:.2f} | {res['warm_s']:.2f} | "
                         f"{1000 * res['warm_s'] / len(photos):.1f} | {'yes' if same else 'NO'} |")  # fmt: skip
    source = args.photos or "astronaut variants"
    text = "\n".join(
        [
            f"# n_jobs ({source}; {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores)",
            "",
            "| photos | n_jobs | cold s | warm s | warm ms / photo | rows equal to n_jobs=1 |",
            "|---|---|---|---|---|---|",
            *lines,
        ]
    )
    write_report(args.out, "n_jobs", text, rows)


if __name__ == "__main__":
    main()
