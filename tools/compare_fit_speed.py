"""How fast is each source tree's landmark fit on the same real faces? The default method's
fit inputs (MediaPipe v2's 468 points, the blendshape prior) are taken once from the photos,
then each tree's ``fit_shape_and_pose`` runs on them in a fresh process, one face at a time
and in batches of 32, the trees taking turns ``--rounds`` times; the median of the rounds.

    git worktree add /tmp/old 6683c59
    python tools/compare_fit_speed.py /tmp/old . --photos P1.jpg P2.jpg ...
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TOOLS = str(Path(__file__).resolve().parent)  # fit_convergence.fit_inputs records the fit's inputs

CAPTURE = """
import pickle, sys, json
sys.path[:0] = [sys.argv[1], sys.argv[4]]
from fit_convergence import fit_inputs
pickle.dump(fit_inputs(json.loads(sys.argv[2])), open(sys.argv[3], "wb"))
"""

TIMING = """
import pickle, sys, time, json
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
from sk3dmm.fitting import fit_shape_and_pose
from sk3dmm.morphable import load_ict_model
model, calls = load_ict_model(), pickle.load(open(sys.argv[2], "rb"))
n_iter = json.loads(sys.argv[3])
def pieces(size):
    for args, kwargs in calls:
        for s in range(0, len(args[0]), size):
            part = dict(kwargs, prior_shape=tuple(v[s:s + size] for v in kwargs["prior_shape"]))
            if n_iter is not None:
                part["n_iter"] = n_iter
            yield tuple(a[s:s + size] for a in args), part
def ms_per_face(size):
    items = list(pieces(size))
    fit_shape_and_pose(model, *items[0][0], **items[0][1])
    t0, n = time.perf_counter(), 0
    for args, kwargs in items:
        fit_shape_and_pose(model, *args, **kwargs)
        n += len(args[0])
    return 1e3 * (time.perf_counter() - t0) / n
print(json.dumps({"one": ms_per_face(1), "batch32": ms_per_face(32), "threads": torch.get_num_threads()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--n-iter", type=int, nargs=2, metavar=("OLD", "NEW"), help="each tree's n_iter (default: the captured one)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        calls = Path(tmp) / "calls.pkl"
        subprocess.run(
            [sys.executable, "-c", CAPTURE, str(args.new.resolve()), json.dumps(args.photos), str(calls), TOOLS],
            check=True,
        )
        n_faces = sum(len(a[0]) for a, _ in pickle.loads(calls.read_bytes()))
        times: dict[str, list[dict]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            for name in ("old", "new"):
                tree = getattr(args, name).resolve()
                n_iter = None if args.n_iter is None else args.n_iter[name == "new"]
                out = subprocess.run(
                    [sys.executable, "-c", TIMING, str(tree), str(calls), json.dumps(n_iter)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                times[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{n_faces} faces, median of {args.rounds} rounds, ms per face (torch threads: {times['new'][0]['threads']})")
    for key, label in (("one", "one face at a time"), ("batch32", "in batches of 32")):
        old = statistics.median(t[key] for t in times["old"])
        new = statistics.median(t[key] for t in times["new"])
        print(f"  {label}: {args.old} {old:.1f}, {args.new} {new:.1f} ({old / new:.2f}x)")


if __name__ == "__main__":
    main()
