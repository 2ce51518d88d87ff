"""Shape error of landmark fitting on synthetic faces with ground truth, per yaw.

Run: ``python benchmarks/bench_reconstruction.py [--n-identities 20] [--size 256]``

Renders a synthetic KDEF-like set (``sk3dmm.datasets.make_synthetic_faces``) and reconstructs
every image two ways: the full photo pipeline (``Reconstruct3DMM``: dlib HOG detection and
68 landmarks, then fitting), and fitting to the true projected landmarks plus 1 px noise
(an oracle for the landmark detector). Errors are RMSE in mm over the face area (vertices
[0, 6706) of the ICT model: forehead to chin, ear to ear) after a similarity alignment, as in
Deng et al.'s MICC tables:

* identity shape: neutral face from alpha (what identity recognition uses),
* full shape: the face with its expression.

It also shows what averaging alpha over all photos of a person gains over single photos.
Writes ``results/reconstruction.{md,csv,json}``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
import torch
from _report import write_report

from sk3dmm import Reconstruct3DMM, load_ict_model
from sk3dmm.datasets import make_synthetic_faces
from sk3dmm.fitting import fit_shape_and_pose
from sk3dmm.metrics import shape_rmse_mm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-identities", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-px", type=float, default=1.0)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_ict_model()
    faces = make_synthetic_faces(
        args.n_identities, image_size=args.size, random_state=args.seed, progress=True
    )
    frame = faces.frame.copy()
    n = len(frame)
    zero_a, zero_b = np.zeros_like(faces.alpha), np.zeros_like(faces.beta)

    t0 = time.perf_counter()
    est = Reconstruct3DMM(coef=("alpha", "beta"), on_error="nan", progress=True, detector="hog")
    photo = est.fit_transform(faces.images)
    photo_s = time.perf_counter() - t0
    ok = np.isfinite(photo).all(1)
    rng = np.random.default_rng(args.seed)
    noisy = faces.landmarks + rng.normal(0, args.noise_px, faces.landmarks.shape)
    oracle = fit_shape_and_pose(model, noisy, faces.focal, faces.center, contour=False)
    oa, ob = oracle.alpha.numpy(), oracle.beta.numpy()

    frame["detected"] = ok
    frame["mean_face_id"] = shape_rmse_mm(model, zero_a, zero_b, faces.alpha, zero_b)
    frame["oracle_id"] = shape_rmse_mm(model, oa, zero_b, faces.alpha, zero_b)
    frame["oracle_full"] = shape_rmse_mm(model, oa, ob, faces.alpha, faces.beta)
    frame["photo_id"] = np.nan
    frame["photo_full"] = np.nan
    if ok.any():
        pa, pb = photo[ok, :100], photo[ok, 100:]
        frame.loc[ok, "photo_id"] = shape_rmse_mm(model, pa, zero_b[ok], faces.alpha[ok], zero_b[ok])
        frame.loc[ok, "photo_full"] = shape_rmse_mm(model, pa, pb, faces.alpha[ok], faces.beta[ok])

    order = ["FL", "HL", "S", "HR", "FR"]
    table = (
        frame.groupby("angle")
        .agg(
            images=("identity", "size"),
            detected=("detected", "mean"),
            photo_identity_mm=("photo_id", "mean"),
            photo_full_mm=("photo_full", "mean"),
            oracle_identity_mm=("oracle_id", "mean"),
            oracle_full_mm=("oracle_full", "mean"),
            mean_face_mm=("mean_face_id", "mean"),
        )
        .reindex(order)
    )

    # averaging alpha over the photos of each person
    sets = []
    for source, alpha_hat, mask in (
        ("photo (dlib)", photo[:, :100], ok),
        ("oracle landmarks", oa, np.ones(n, bool)),
    ):
        per = []
        for idx in frame[mask].groupby("identity").groups.values():
            idx = np.asarray(idx)
            mean_alpha = alpha_hat[idx].mean(0, keepdims=True)
            per.append(shape_rmse_mm(model, mean_alpha, zero_b[:1], faces.alpha[idx[:1]], zero_b[:1])[0])
        single = frame.loc[mask, "photo_id" if source.startswith("photo") else "oracle_id"].mean()
        sets.append(
            {
                "source": source,
                "single_photo_mm": single,
                "mean_alpha_over_person_mm": float(np.mean(per)),
                "photos_per_person": float(mask.sum() / frame["identity"].nunique()),
            }
        )
    sets = pd.DataFrame(sets)

    hw = f"{platform.machine()}, 2 threads, torch {torch.__version__}"
    head = f"{n} synthetic images of {args.n_identities} people ({args.size} px, seed {args.seed}); {hw}; photo pipeline {photo_s / n * 1000:.0f} ms/image"
    md = [
        f"# Landmark-fitting reconstruction error\n\n{head}\n",
        "RMSE in mm over the ICT face area after similarity alignment.\n",
        table.round(2).to_markdown(),
        "\n\nAveraging alpha over every photo of a person (identity shape RMSE, mm):\n",
        sets.round(2).to_markdown(index=False),
    ]
    out = write_report(
        args.out,
        "reconstruction",
        "\n".join(md),
        {
            "setup": head,
            "per_angle": table.reset_index().to_dict("records"),
            "set_averaging": sets.to_dict("records"),
        },
    )
    table.to_csv(out / "reconstruction.csv")


if __name__ == "__main__":
    main()
