"""Landmark fitting: recovery on synthetic faces with ground truth, and speed.

Run: ``python benchmarks/bench_landmark_fitting.py [--n 512] [--threads 2]``

Prints (1) the recovery of random ICT faces (alpha ~ N(0, 1), 15% of blendshapes active
uniformly in [0, 1], yaw in [-60, 60] degrees) from their 68 projected landmarks with 0.5 px
noise: 2-D reprojection error, pose error, 3-D landmark error after similarity alignment
against the mean-face baseline; (2) ms per image for dlib detection + 68 landmarks on
``skimage.data.astronaut()`` and ms per face for batched fitting at batch 1 and 256.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from sk3dmm import load_ict_model
from sk3dmm.datasets import make_synthetic_landmarks
from sk3dmm.fitting import fit_shape_and_pose
from sk3dmm.metrics import point_error_mm


def recovery(n: int, seed: int) -> None:
    model = load_ict_model()
    data = make_synthetic_landmarks(n, noise_px=0.5, random_state=seed)
    fit = fit_shape_and_pose(model, data.landmarks, data.focal, data.center, contour=False)
    lm_fit = model.landmarks(fit.alpha.double(), fit.beta.double()).numpy()
    lm_mean = model.landmarks(np.zeros_like(data.alpha), np.zeros_like(data.beta)).numpy()
    err_fit = point_error_mm(lm_fit, data.landmarks3d, model.unit_mm)
    err_mean = point_error_mm(lm_mean, data.landmarks3d, model.unit_mm)
    deg = {k: np.abs(np.rad2deg(getattr(fit, k).numpy()) - data[k]).mean() for k in ("yaw", "pitch", "roll")}
    print(f"recovery on {n} synthetic faces (yaw -60..60 deg, 0.5 px landmark noise, seed {seed})")
    print(f"  2-D reprojection error      {fit.reprojection_error.mean():.3f} px (noise floor ~0.5 px)")
    print(
        f"  pose error (mean abs)       yaw {deg['yaw']:.2f}  pitch {deg['pitch']:.2f}  roll {deg['roll']:.2f} deg"
    )
    print(f"  3-D landmark error          {err_fit.mean():.2f} mm (mean face: {err_mean.mean():.2f} mm)")


def speed(threads: int, repeats: int = 3) -> None:
    from skimage.data import astronaut

    from sk3dmm.faces import detect_faces

    torch.set_num_threads(threads)
    model = load_ict_model()
    img = astronaut()
    detect_faces(img)  # load models
    t0 = time.perf_counter()
    for _ in range(repeats * 3):
        detect_faces(img)
    det_ms = (time.perf_counter() - t0) / (repeats * 3) * 1000
    print(f"speed on {platform.processor() or platform.machine()}, {threads} torch threads")
    print(f"  dlib HOG detection + 68 landmarks (512x512)  {det_ms:7.1f} ms/image")
    data = make_synthetic_landmarks(256, random_state=1)
    for batch in (1, 256):
        args = (model, data.landmarks[:batch], data.focal[:batch], data.center[:batch])
        fit_shape_and_pose(*args)  # warm-up
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            fit_shape_and_pose(*args)
            best = min(best, time.perf_counter() - t0)
        print(f"  landmark fitting, batch {batch:3d}                 {best / batch * 1000:7.2f} ms/face")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    recovery(args.n, args.seed)
    speed(args.threads)
