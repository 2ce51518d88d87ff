"""Do two source trees give the same rows? Every method's ``alpha | beta | pose`` on the same
photos from each tree (a fresh process each), compared bit for bit.

    git worktree add /tmp/old 5b8e9ae
    SK3DMM_NETWORK_RUNTIME=torch python tools/compare_rows.py /tmp/old . --photos P1.jpg P2.jpg ...

(``SK3DMM_NETWORK_RUNTIME=torch`` when the older tree has no LiteRT path.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

METHODS = ("blendshapes_prior", "blendshapes", "landmarks", "rnet", "rnet_refined")
CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from sk3dmm import Reconstruct3DMM
paths, methods = json.loads(sys.argv[2]), json.loads(sys.argv[3])
# trees from 0.7.1 on: the fit to the mesh for every face, as older trees give it
extra = {"profiles": "fit"} if "profiles" in Reconstruct3DMM().get_params() else {}
rows = {m: Reconstruct3DMM(method=m, cache=False, on_error="nan", coef=("alpha", "beta", "pose"), **extra)
        .fit_transform(paths) for m in methods}
np.savez(sys.argv[4], **rows)
"""


def rows_of(tree: Path, paths: list[str], methods: list[str], out: Path) -> dict[str, np.ndarray]:
    subprocess.run(
        [sys.executable, "-c", CHILD, str(tree.resolve()), json.dumps(paths), json.dumps(methods), str(out)],
        check=True,
    )
    with np.load(out) as data:
        return dict(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = rows_of(args.old, args.photos, args.methods, Path(tmp) / "old.npz")
        new = rows_of(args.new, args.photos, args.methods, Path(tmp) / "new.npz")
    same = True
    for m in args.methods:
        equal = np.array_equal(old[m], new[m], equal_nan=True)
        same &= equal
        gap = float(np.nanmax(np.abs(old[m] - new[m])))
        print(f"{m}: {'the same bits' if equal else f'differ, by up to {gap:.3g}'} ({len(old[m])} photos)")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
