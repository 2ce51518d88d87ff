"""How far from its own converged answer is the default fit? The default method's fit inputs
(MediaPipe v2's 468 points, the blendshape prior) are taken from the photos, then
``fit_shape_and_pose`` runs on them with each ``--rounds`` value and with ``--converged``
rounds; the gap in ``alpha``, ``beta`` and the head angles, and the mean reprojection error.

    python tools/fit_convergence.py --photos P1.jpg P2.jpg ...
"""

from __future__ import annotations

import argparse

import numpy as np


def fit_inputs(photos: list[str]) -> list[tuple[tuple, dict]]:
    """The arguments of every ``fit_shape_and_pose`` call the default method makes on the photos."""
    import sk3dmm.regressors._dense_fit as dense_fit
    from sk3dmm import Reconstruct3DMM

    calls, fit = [], dense_fit.fit_shape_and_pose

    def recording(model, *args, **kwargs):
        calls.append((args, kwargs))
        return fit(model, *args, **kwargs)

    dense_fit.fit_shape_and_pose = recording
    try:
        Reconstruct3DMM(cache=False, on_error="nan", profiles="fit", progress=False).fit().transform(photos)
    finally:
        dense_fit.fit_shape_and_pose = fit
    return calls


def fitted(calls: list[tuple[tuple, dict]], rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """``alpha | beta | yaw, pitch, roll`` (degrees) and the reprojection error of every face."""
    from sk3dmm.fitting import fit_shape_and_pose
    from sk3dmm.morphable import load_ict_model

    model, rows, errors = load_ict_model(), [], []
    for args, kwargs in calls:
        f = fit_shape_and_pose(model, *args, **dict(kwargs, n_iter=rounds))
        angles = np.rad2deg(np.stack([f.yaw.numpy(), f.pitch.numpy(), f.roll.numpy()], 1))
        rows.append(np.concatenate([f.alpha.numpy(), f.beta.numpy(), angles], 1))
        errors.append(f.reprojection_error.numpy())
    return np.concatenate(rows), np.concatenate(errors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("--rounds", type=int, nargs="+", default=[2, 3, 4, 6, 8, 12])
    ap.add_argument("--converged", type=int, default=30)
    args = ap.parse_args()
    calls = fit_inputs(args.photos)
    from sk3dmm.morphable import load_ict_model

    model = load_ict_model()
    n_id, n_exp = model.n_identity, model.n_expression
    ref, ref_err = fitted(calls, args.converged)
    print(f"{len(ref)} faces; gap to {args.converged} rounds (median / 99th percentile / max)")
    print("| rounds | alpha | beta | angles (deg) | reprojection (px) |")
    print("|---|---|---|---|---|")
    for rounds in args.rounds:
        rows, err = fitted(calls, rounds)
        gap = np.abs(rows - ref)
        cells = [gap[:, :n_id], gap[:, n_id : n_id + n_exp], gap[:, n_id + n_exp :]]
        text = [f"{np.median(c):.4f} / {np.percentile(c, 99):.3f} / {c.max():.3f}" for c in cells]
        print(f"| {rounds} | " + " | ".join(text) + f" | {err.mean():.3f} |")
    print(f"| {args.converged} | 0 | 0 | 0 | {ref_err.mean():.3f} |")


if __name__ == "__main__":
    main()
