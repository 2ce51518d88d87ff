"""R-Net weights on real photos, beside the default dense landmark fit: expression from `beta`
(posed expressions), identity from `alpha` (webmorph neutral vs smiling), 68-point NME and head
pose (AFLW2000-3D). For comparing R-Nets (e.g. trained on plain vs photo-like renders).

MediaPipe's detections and the 5-point crops are computed once per photo by the library's stages
(:mod:`sk3dmm.pipeline`) and cached on disk (``--out``/cache), so each further R-Net costs a
forward pass over the crops and a pose fit. The R-Net path is the library's: the regressors of
:class:`sk3dmm.Reconstruct3DMM` ``method="rnet"`` (:mod:`sk3dmm.regressors`) regress
``alpha``/``beta`` and the angles, then fit the pose to MediaPipe's 468 points with that shape
fixed. Real photos are for evaluation only (``../shared/realfaces``; nothing is trained on them)::

    python benchmarks/bench_rnet_real.py --weights embedded /tmp/new/rnet_ict.pt \\
        --aflw2000 ../shared/realfaces/aflw2000-3d \\
        --expressions ../shared/realfaces/taiwanese-expressions/images \\
        --webmorph ../shared/realfaces/webmorph

``embedded`` names the shipped weights; ``--limit N`` takes the first N photos of each set (a
quick check, not a measurement). Protocols as ``bench_real.py`` (GroupKFold(5) over
performers; rank-1 and AUC of cosine similarity; NME over sqrt(w h) of the true box, by yaw bin).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _report import write_report
from bench_real import aflw_truth, expression_files, identify, webmorph_pairs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm.auto import tqdm

from sk3dmm import Reconstruct3DMM
from sk3dmm.faces import Crop
from sk3dmm.fitting import euler_to_matrix, matrix_to_euler
from sk3dmm.metrics import pitch_yaw_roll
from sk3dmm.morphable import load_ict_model
from sk3dmm.nets import load_rnet
from sk3dmm.pipeline import (
    CropFace,
    DetectFace,
    Detection,
    ErrorPolicy,
    StageCache,
    load_photos,
    result_caches,
)
from sk3dmm.regressors import RegressionSettings, build_regressors

MAX_PIXELS = 2_000_000  # Reconstruct3DMM's default pixel budget
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


def rnet_bundle(weights: str):
    """The R-Net of ``weights`` (``"embedded"``: the shipped one) for the ICT model."""
    return load_rnet(None if weights == "embedded" else weights, load_ict_model())


def faces(name: str, files: list[Path], weights: str, cache_dir: Path) -> dict[int, tuple[Detection, Crop]]:
    """MediaPipe's face of each photo and its 5-point crop as the R-Net ``weights`` reads it, by
    photo index (photos without a face left out): the library's detection and crop stages,
    each cached on disk under ``cache_dir`` (so further R-Nets and reruns reuse them)."""
    bundle = rnet_bundle(weights)
    stages = (
        DetectFace("mediapipe", upsample=1, max_pixels=MAX_PIXELS, faces="largest"),
        CropFace(bundle.template5, bundle.input_size, bundle.rescale_factor, MAX_PIXELS),
    )
    cache, policy = StageCache(result_caches(str(cache_dir))), ErrorPolicy("nan")
    out = {}
    for start in tqdm(range(0, len(files), 64), desc=f"detect {name}"):
        chunk = {i: files[i] for i in range(start, min(len(files), start + 64))}
        out.update(detect_and_crop(chunk, stages, cache, policy))
    return out


def detect_and_crop(files: dict[int, Path], stages: tuple, cache: StageCache, policy: ErrorPolicy) -> dict:
    """:func:`faces` for a batch of photos (by index)."""
    detect, crop = stages
    names = {i: f.name for i, f in files.items()}
    photos, _ = load_photos({i: str(f) for i, f in files.items()}, names, policy)
    keys = cache.photo_keys(photos)
    found, keys = cache.run(
        detect, keys, lambda todo: policy.each(detect, {i: (photos[i],) for i in todo}, names)
    )
    crops, _ = cache.run(
        crop, keys, lambda todo: policy.each(crop, {i: (photos[i], found[i]) for i in todo}, names)
    )
    return {i: (found[i], crops[i]) for i in crops}


def photo_angles(crop_angles_deg: np.ndarray, crop_roll: np.ndarray) -> np.ndarray:
    """R-Net's (yaw, pitch, roll) in degrees, seen in crops turned level by ``crop_roll``
    radians, as angles of the photo's camera (the turn is a roll of the camera)."""
    a = torch.as_tensor(np.deg2rad(crop_angles_deg), dtype=torch.float64)
    r_crop = euler_to_matrix(a[:, 0], a[:, 1], a[:, 2])
    c, s = (torch.as_tensor(f(-crop_roll), dtype=torch.float64) for f in (np.cos, np.sin))
    turn = torch.zeros(len(a), 3, 3, dtype=torch.float64)  # photo -> crop pixels (x right, y down)
    turn[:, 0, 0], turn[:, 0, 1], turn[:, 1, 0], turn[:, 1, 1], turn[:, 2, 2] = c, -s, s, c, 1.0
    return np.rad2deg(torch.stack(matrix_to_euler(turn.transpose(1, 2) @ r_crop), 1).numpy())


def coefficients(name: str, files: list[Path], weights: str | None, refine: bool, cache: Path) -> dict:
    """Which photos were found (``found``, a mask over ``files``) and, for those: alpha, beta,
    pose angles (degrees: R-Net's and the fitted pose's) and the fitted model's 68 points in
    photo pixels, by the library's regressors: ``method="rnet"`` (``weights``), ``"rnet_refined"``
    (``refine``: the fit's priors centred on R-Net's shape) or ``"landmarks"`` (``None``)."""
    found = dict(sorted(faces(name, files, weights or "embedded", cache).items()))
    method = "landmarks" if weights is None else "rnet_refined" if refine else "rnet"
    default = Reconstruct3DMM()
    settings = RegressionSettings(
        model=load_ict_model(),
        rnet=None if weights is None else rnet_bundle(weights),
        identity_reg=default.identity_reg,
        expression_reg=default.expression_reg,
    )
    items = [(det, crop, None) for det, crop in found.values()]
    for regressor in build_regressors(method, settings):
        items = [(det, crop, coefs) for (det, crop, _), coefs in zip(items, regressor(items))]
    rows = [coefs for _, _, coefs in items]
    pose_fit = np.stack([r.pose[:3] for r in rows])
    if rows[0].angles is None:  # the dense fit, or an R-Net without sk3dmm's angle head
        pose = pose_fit
    else:
        pose = photo_angles(
            np.stack([r.angles for r in rows]), np.array([crop.rotation for _, crop, _ in items])
        )
    mask = np.zeros(len(files), bool)
    mask[list(found)] = True
    return {
        "found": mask,
        "alpha": np.stack([r.alpha for r in rows]),
        "beta": np.stack([r.beta for r in rows]),
        "pose": pose,
        "pose_fit": pose_fit,
        "lm68": np.stack([r.fitted_landmarks for r in rows]),
    }


def aflw(folder: Path, runs: dict, cache: Path, limit: int | None) -> tuple[list, dict]:
    files = sorted(folder.glob("image*.jpg"))[:limit]
    gt, pose_gt, norm, in_range = aflw_truth(files)
    yaw = np.abs(pose_gt[:, 1])
    rows, data = [], {}
    for label, (weights, refine) in runs.items():
        c = coefficients("aflw2000", files, weights, refine, cache)
        ok = c["found"]
        nme = np.linalg.norm(c["lm68"] - gt[ok], axis=-1).mean(1) / norm[ok] * 100
        bins = [
            float(nme[(yaw[ok] >= lo) & (yaw[ok] < hi)].mean()) for lo, hi in ((0, 30), (30, 60), (60, 1e9))
        ]
        sel = in_range[ok]
        mae, mae_fit = (
            np.abs(pitch_yaw_roll(c[k])[sel] - pose_gt[ok][sel]).mean(0) for k in ("pose", "pose_fit")
        )
        data[label] = {
            "nme_bins": bins,
            "nme_mean": float(np.mean(bins)),
            "pose_mae": float(mae.mean()),
            "pose_mae_fitted": float(mae_fit.mean()),
        }
        rows.append(
            f"| {label} | {' / '.join(f'{b:.2f}' for b in bins)} | **{np.mean(bins):.2f}** | "
            f"{mae[1]:.2f} / {mae[0]:.2f} / {mae[2]:.2f} ({mae.mean():.2f}) | {mae_fit.mean():.2f} |"
        )
    head = [
        f"AFLW2000-3D: {ok.sum()} of {len(files)} photos found by MediaPipe (errors over those)",
        "",
        "| coefficients from | 68-pt NME % by yaw 0-30 / 30-60 / 60-90 | mean | pose MAE yaw / pitch / roll (mean), deg "
        "| fitted pose MAE (mean) |",
        "|---|---|---|---|---|",
    ]
    return head + rows, data


def expressions(folder: Path, runs: dict, cache: Path, limit: int | None) -> tuple[list, dict]:
    files, labels, people = expression_files(folder)
    files, labels, people = files[:limit], labels[:limit], people[:limit]
    rows, data = [], {}
    for label, (weights, refine) in runs.items():
        c = coefficients("expressions", files, weights, refine, cache)
        ok = c["found"]
        y, groups = labels[ok], people[ok]
        s = {
            name: float(
                cross_val_score(
                    make_pipeline(StandardScaler(), clf), c["beta"], y, groups=groups, cv=GroupKFold(5)
                ).mean()
            )
            for name, clf in (("svc", SVC()), ("logreg", LogisticRegression(max_iter=3000)))
        }
        data[label] = s
        rows.append(f"| {label} | {100 * s['svc']:.1f}% | {100 * s['logreg']:.1f}% |")
    head = [
        f"Posed expressions: `beta` of {ok.sum()} of {len(files)} photos, {len(set(groups))} performers, "
        "7 classes, GroupKFold(5) over performers",
        "",
        "| coefficients from | SVC (RBF) | logistic regression |",
        "|---|---|---|",
    ]
    return head + rows, data


def identity(folder: Path, runs: dict, cache: Path, limit: int | None) -> tuple[list, dict]:
    files = webmorph_pairs(folder)
    n = len(files) // 2
    k = n if limit is None else min(n, limit)
    files, n = files[:k] + files[n : n + k], k
    rows, data = [], {}
    for label, (weights, refine) in runs.items():
        c = coefficients("webmorph", files, weights, refine, cache)
        pair = c["found"][:n] & c["found"][n:]
        alpha = np.full((2 * n, 100), np.nan)
        alpha[c["found"]] = c["alpha"]
        rank1, auc, _ = identify(alpha)
        data[label] = {"rank1": rank1, "auc": auc}
        rows.append(f"| {label} | {100 * rank1:.1f}% | {auc:.3f} |")
    head = [
        f"Identity across expression (webmorph, CC BY 4.0): `alpha`, {pair.sum()} of {n} people found "
        "neutral and smiling; neutral enrolled, smiling recognised, cosine similarity",
        "",
        "| coefficients from | rank-1 | verification AUC |",
        "|---|---|---|",
    ]
    return head + rows, data


def image_files(folder: str) -> list[Path]:
    """The image files below ``folder``, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def adapt(weights: str, folders: str, epochs: int, out: Path) -> str:
    """Fine-tune R-Net on unlabelled photos with the hybrid loss; the checkpoint's path."""
    photos = sorted(str(p) for f in folders.split(os.pathsep) if f for p in image_files(f))
    est = Reconstruct3DMM(
        method="rnet",
        weights=None if weights == "embedded" else weights,
        fine_tune=True,
        fine_tune_epochs=epochs,
        random_state=0,
        on_error="nan",
        cache=False,
    ).fit(photos)
    bundle = est.rnet_
    path = out / f"adapted_{Path(weights).parent.name or 'embedded'}.pt"
    out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": bundle.net.state_dict(),
            "sizes": dict(bundle.net.sizes),
            "backbone": "resnet18",
            "width": 32,
            "input_size": bundle.input_size,
            "rescale_factor": bundle.rescale_factor,
        },
        path,
    )
    print(f"adapted on {len(photos)} photos: {path}")
    return str(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--weights", nargs="+", default=["embedded"], help="sk3dmm R-Net checkpoints, or 'embedded'"
    )
    p.add_argument("--labels", nargs="+", help="a name per --weights (default: the paths)")
    p.add_argument("--aflw2000")
    p.add_argument("--expressions")
    p.add_argument("--webmorph")
    p.add_argument("--refine", action="store_true", help="also R-Net + dense refinement rows")
    p.add_argument(
        "--adapt",
        help="folders (os.pathsep-joined) of unlabelled photos: also rows for each R-Net fine-tuned on them "
        "with the hybrid loss (fine_tune=True); not the evaluation photos",
    )
    p.add_argument("--adapt-epochs", type=int, default=5)
    p.add_argument("--limit", type=int, help="only the first N photos of each set (N pairs of webmorph)")
    p.add_argument("--out", default="results/rnet_real")
    args = p.parse_args()
    torch.set_num_threads(2)
    labels = args.labels or args.weights
    runs = {"dense landmark fit (default)": (None, False)}
    for lab, w in zip(labels, args.weights):
        runs[f"R-Net: {lab}"] = (w, False)
        if args.refine:
            runs[f"R-Net + dense refinement: {lab}"] = (w, True)
        if args.adapt:
            adapted = adapt(w, args.adapt, args.adapt_epochs, Path(args.out))
            runs[f"R-Net: {lab}, adapted without labels"] = (adapted, False)
    out, lines, data = Path(args.out), [], {}
    t0 = time.perf_counter()
    for name, fn, folder in (
        ("expressions", expressions, args.expressions),
        ("identity", identity, args.webmorph),
        ("aflw2000", aflw, args.aflw2000),
    ):
        if folder:
            rows, data[name] = fn(Path(folder), runs, out / "cache", args.limit)
            lines += rows + [""]
    lines.append(
        f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
        f"{time.perf_counter() - t0:.0f} s. R-Net path: R-Net's alpha/beta/angles, pose fitted to "
        "MediaPipe's 468 points with that shape."
    )
    write_report(out, "rnet_real", "\n".join(lines), data)


if __name__ == "__main__":
    main()
