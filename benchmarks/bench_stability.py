"""How much coefficients move when a photo barely changes: JPEG re-encoding and 1-px landmark noise.

For each photo: the coefficients of the photo as given, of the same photo re-saved as JPEG
at quality 95 and 75, and (landmark method) of its detected landmarks moved by Gaussian
noise of 1 px. Reported per method: the largest |delta| of any blendshape (beta) and of any
identity coefficient (alpha) over all photos, its median, and the blendshape that moves most.
Issue #14's target: max |delta beta| under JPEG q95 <= 0.1.

Photos: a folder (e.g. ``--photos ../shared/realfaces/webmorph/neutral_front``, CC BY 4.0,
evaluation only) or, by default, eight crops/flips/scalings of ``skimage.data.astronaut()``.

    python benchmarks/bench_stability.py --photos ../shared/realfaces/webmorph/neutral_front --limit 60
"""

from __future__ import annotations

import argparse
import io
import platform
from pathlib import Path

import numpy as np
from _report import write_report
from PIL import Image

from sk3dmm import Reconstruct3DMM
from sk3dmm.faces import load_image


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def default_photos() -> list[np.ndarray]:
    from skimage.data import astronaut

    a = astronaut()
    out = []
    for crop, flip, scale in [
        (0, 0, 1.0),
        (40, 0, 1.0),
        (0, 1, 0.8),
        (60, 1, 1.2),
        (20, 0, 0.9),
        (30, 1, 1.0),
    ]:
        img = a[crop : 400 + crop // 2, crop // 2 : 420 + crop]
        img = img[:, ::-1] if flip else img
        size = (int(img.shape[1] * scale), int(img.shape[0] * scale))
        out.append(np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size)))
    return out


def deltas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    return np.abs(a[ok] - b[ok])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", default=None, help="a folder of face photos (default: astronaut variants)")
    p.add_argument("--limit", type=int, default=60)
    p.add_argument("--noise-repeats", type=int, default=5)
    p.add_argument("--out", default="results/stability")
    args = p.parse_args()
    if args.photos:
        files = sorted(f for f in Path(args.photos).iterdir() if f.suffix.lower() in (".jpg", ".png"))[
            : args.limit
        ]
        photos = [load_image(f) for f in files]
        source = f"{len(photos)} photos of {args.photos}"
    else:
        photos = default_photos()
        source = f"{len(photos)} crops of skimage.data.astronaut()"
    variants = {"JPEG q95": [jpeg(x, 95) for x in photos], "JPEG q75": [jpeg(x, 75) for x in photos]}
    rows, data = [], {"source": source, "machine": platform.processor() or platform.machine()}
    for method in ("landmarks", "rnet"):
        est = Reconstruct3DMM(
            method=method, coef=("alpha", "beta"), on_error="nan", cache=False, detector="hog"
        )
        base = est.fit_transform(photos)
        names = est.get_feature_names_out()
        beta_cols = np.array([n.startswith("beta_") for n in names])
        changes = {k: deltas(base, est.fit_transform(v)) for k, v in variants.items()}
        if method == "landmarks":
            landmarks = np.stack(
                [r.landmarks if r is not None else np.full((68, 2), np.nan) for r in est.reconstructions_]
            )
            ok = np.isfinite(landmarks).all((1, 2))
            sizes = np.array([r.image_size for r in est.reconstructions_ if r is not None], float)
            rng = np.random.default_rng(0)
            noisy = []
            for _ in range(args.noise_repeats):
                lm = landmarks[ok] + rng.normal(0, 1.0, landmarks[ok].shape)
                noisy.append(deltas(base[ok], _fit_like_reconstruct(est, lm, sizes)))
            changes["landmarks + 1 px noise"] = np.concatenate(noisy)
        for what, d in changes.items():
            b, a = d[:, beta_cols], d[:, ~beta_cols]
            worst = names[beta_cols][int(np.argmax(b.max(0)))]
            rows.append((method, what, len(d), b.max(), np.median(b.max(1)), worst, a.max()))
            data[f"{method} / {what}"] = {
                "photos": len(d),
                "max_abs_delta_beta": float(b.max()),
                "median_per_photo_max_delta_beta": float(np.median(b.max(1))),
                "worst_blendshape": worst,
                "max_abs_delta_alpha": float(a.max()),
            }
    lines = [
        f"Coefficient stability, {source}; {data['machine']}",
        "",
        "| method | change | photos | max abs delta beta | median per-photo max | moves most | max abs delta alpha |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {m} | {w} | {n} | {b:.3f} | {med:.3f} | {worst} | {a:.3f} |" for m, w, n, b, med, worst, a in rows
    ]
    write_report(args.out, "stability", "\n".join(lines), data)


def _fit_like_reconstruct(est: Reconstruct3DMM, landmarks: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Refit the 68 points with Reconstruct3DMM's own camera and settings (focal, centre, priors)."""
    import torch

    from sk3dmm.fitting import default_focal, fit_shape_and_pose, fit_to_blocks

    fit = fit_shape_and_pose(
        est.model_,
        landmarks,
        default_focal(sizes),
        sizes / 2,
        n_iter=est.n_iter,
        identity_reg=est.identity_reg,
        expression_reg=est.expression_reg,
        dtype=torch.float64,
    )
    blocks = fit_to_blocks(fit, est.model_)
    return np.concatenate([blocks["alpha"], blocks["beta"]], 1)


if __name__ == "__main__":
    main()
