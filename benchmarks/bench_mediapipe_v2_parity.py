"""sk3dmm's MediaPipe v2 (478 points, 52 blendshape scores) against MediaPipe's own runtime on
photos that may not enter the repository (the tests hold the astronaut's).

First write the reference outputs with MediaPipe (a scratch virtualenv, see
``tools/make_mediapipe_v2_fixtures.py``)::

    /tmp/mpref/bin/python tools/make_mediapipe_v2_fixtures.py --photos PHOTOS... --out ref.npz

then compare, with the same photos::

    python benchmarks/bench_mediapipe_v2_parity.py ref.npz PHOTOS...
"""

from __future__ import annotations

import argparse

import numpy as np

from sk3dmm.faces import MediaPipeFaceLandmarkerV2, load_image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reference")
    p.add_argument("photos", nargs="+")
    args = p.parse_args()
    ref = np.load(args.reference)
    landmarker = MediaPipeFaceLandmarkerV2()
    worst_px, worst_score, rows = 0.0, 0.0, []
    for path, points, scores in zip(args.photos, ref["points"], ref["scores"]):
        faces = landmarker.detect([load_image(path)])[0]
        if not faces or np.isnan(points).any():
            rows.append(f"| {path} | found: sk3dmm {bool(faces)}, MediaPipe {not np.isnan(points).any()} | | |")
            continue
        px = np.linalg.norm(faces[0].points[:, :2] - points[:, :2], axis=1)
        sc = np.abs(faces[0].extras["blendshape_scores"] - scores)
        worst_px, worst_score = max(worst_px, px.max()), max(worst_score, sc.max())
        rows.append(f"| {path} | {px.mean():.4f} / {px.max():.4f} | {sc.max():.5f} | {faces[0].points.shape[0]} |")
    print(f"MediaPipe {ref['mediapipe_version']} vs sk3dmm, {len(args.photos)} photos\n")
    print("| photo | points: mean / max px | scores: max | points |\n|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nworst point {worst_px:.4f} px, worst score {worst_score:.5f}")


if __name__ == "__main__":
    main()
