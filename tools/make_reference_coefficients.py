"""Write ``tests/data/reference_coefficients.npz``: the rows every method and detector gives on a
fixed set of astronaut-derived photos (float64 fit), so a refactoring can be checked bitwise.

Run it once on the commit whose behaviour is the reference::

    python tools/make_reference_coefficients.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reference_photos import reference_photos  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference_coefficients.npz"
CASES = [(m, d) for m in ("landmarks", "rnet", "rnet_refined") for d in ("mediapipe", "hog")]


def main() -> None:
    import subprocess

    from sk3dmm import Reconstruct3DMM

    photos = reference_photos()
    out = {}
    for method, detector in CASES:
        est = Reconstruct3DMM(
            method=method, detector=detector, coef=("alpha", "beta", "pose"), on_error="nan", cache=False
        )
        rows = est.fit_transform(photos)
        out[f"{method}-{detector}"] = rows
        fitted = [
            r.fitted_landmarks if r is not None else np.full((68, 2), np.nan) for r in est.reconstructions_
        ]
        out[f"{method}-{detector}-fitted68"] = np.stack(fitted).astype(np.float32)
        print(method, detector, "rows with a face:", int(np.isfinite(rows[:, 0]).sum()), "of", len(rows))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    np.savez_compressed(OUT, commit=np.array(commit), **out)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
