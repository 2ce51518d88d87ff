"""What per-stage cache keys buy: a change of a fitting setting re-runs only the fit.

After a warm-up on two photos, the same photos go through ``Reconstruct3DMM(method)`` four times in one process:
1. cold (empty cache): every stage runs;
2. the same settings again: every stage is a cache hit;
3. other fitting settings (``n_iter``, ``expression_reg``): detection, crop and R-Net are
   reused, only the fit runs (the pre-0.4 cache keyed whole results by every setting, so
   this run was as slow as run 1);
4. those settings with ``cache=False``: the cold cost of run 3, and its rows, which must be
   the same bits as run 3's.

    python benchmarks/bench_stage_cache.py --photos ../shared/realfaces/webmorph/neutral_front --limit 60
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _report import write_report

from sk3dmm import Reconstruct3DMM, clear_cache


def _timed(est, photos):
    t = time.perf_counter()
    rows = est.fit_transform(photos)
    return rows, time.perf_counter() - t, est.cache_stats_


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", required=True, help="a folder of face photos")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--method", default="rnet_refined")
    parser.add_argument("--out", default="results/stage_cache")
    args = parser.parse_args()
    files = sorted(str(f) for f in Path(args.photos).iterdir() if f.suffix.lower() in (".jpg", ".png"))
    photos = files[: args.limit]
    base = {"method": args.method, "on_error": "nan"}
    Reconstruct3DMM(**base, cache=False).fit_transform(photos[:2])  # warm: models loaded, graphs traced
    clear_cache()
    changed = {**base, "n_iter": 2, "expression_reg": 0.1}
    runs = [
        ("1. cold", Reconstruct3DMM(**base)),
        ("2. same settings", Reconstruct3DMM(**base)),
        ("3. fitting settings changed", Reconstruct3DMM(**changed)),
        ("4. run 3's settings, cache=False", Reconstruct3DMM(**changed, cache=False)),
    ]
    lines = [
        f"# Per-stage cache: {len(photos)} photos of {args.photos}, method={args.method!r}",
        "",
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "",
        "| run | seconds | ms / photo | stages computed (reused) |",
        "|---|---|---|---|",
    ]
    rows, data = {}, {}
    for name, est in runs:
        rows[name], seconds, stats = _timed(est, photos)
        counts = (
            ", ".join(f"{r.stage} {r.computed} ({r.reused})" for r in stats.itertuples())
            or "none (cache off)"
        )
        lines.append(f"| {name} | {seconds:.2f} | {1000 * seconds / len(photos):.1f} | {counts} |")
        data[name] = {"seconds": seconds, "stats": stats.drop(columns="key").to_dict("records")}
    same = np.array_equal(rows[runs[2][0]], rows[runs[3][0]], equal_nan=True)
    lines += ["", f"Run 3's rows are bitwise those of run 4 (no cache): {same}."]
    write_report(args.out, "stage_cache", "\n".join(lines) + "\n", data)
    clear_cache()


if __name__ == "__main__":
    main()
