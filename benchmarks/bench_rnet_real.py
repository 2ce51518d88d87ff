"""R-Net weights on real photos, beside the default dense landmark fit: expression from `beta`
(posed expressions), identity from `alpha` (webmorph neutral vs smiling), 68-point NME and head
pose (AFLW2000-3D). For comparing R-Nets (e.g. trained on plain vs photo-like renders).

MediaPipe's detections and the 5-point crops are computed once per photo and cached (``--out``),
so each further R-Net costs a forward pass over the crops and a pose fit. The R-Net path is the
library's: :class:`sk3dmm.Reconstruct3DMM` ``method="rnet"`` regresses ``alpha``/``beta`` and the
angles, then fits the pose to MediaPipe's 468 points with that shape fixed. Real photos are for
evaluation only (``../shared/realfaces``; nothing is trained on them)::

    python benchmarks/bench_rnet_real.py --weights embedded /tmp/new/rnet_ict.pt \\
        --aflw2000 ../shared/realfaces/aflw2000-3d \\
        --expressions ../shared/realfaces/taiwanese-expressions/images \\
        --webmorph ../shared/realfaces/webmorph

``embedded`` names the shipped weights. Protocols as ``bench_real.py`` (GroupKFold(5) over
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
from sk3dmm.datasets._folders import image_files
from sk3dmm.faces import load_image
from sk3dmm.fitting import default_focal, fit_shape_and_pose, fit_to_blocks
from sk3dmm.morphable import load_ict_model, mediapipe_correspondence
from sk3dmm.transformers._reconstruct import _detect, _project_68, photo_crop_spec


def detections(name: str, files: list[Path], cache_dir: Path) -> dict:
    """MediaPipe's mesh, 68 points and 5-point crop of each photo (NaN / zeros where none)."""
    cache = cache_dir / f"detections_{name}.npz"
    if cache.is_file():
        with np.load(cache) as d:
            if list(d["files"]) == [f.name for f in files]:
                return dict(d)
    model = load_ict_model()
    spec = photo_crop_spec(model)
    n = len(files)
    out = {
        "files": np.array([f.name for f in files]),
        "found": np.zeros(n, bool),
        "mesh": np.full((n, 468, 2), np.nan, np.float32),
        "crop": np.zeros((n, 112, 112, 3), np.uint8),
        "size": np.zeros((n, 2)),
    }
    for i, f in enumerate(tqdm(files, desc=f"detect {name}")):
        img = load_image(str(f))
        face, size, crop, _ = _detect(img, f.name, "mediapipe", 1, spec, 2_000_000, False)
        out["size"][i] = img.shape[1], img.shape[0]
        if face is not None:
            out["found"][i] = True
            out["mesh"][i] = face.mesh[:, :2]
            out["crop"][i] = crop[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **out)
    return out


def coefficients(det: dict, weights: str | None, refine: bool = False) -> dict:
    """alpha, beta, pose angles (degrees: R-Net's and the fitted pose's) and the 68 projected
    points of the R-Net path (``weights``), of R-Net refined by the dense fit (``refine``: the
    fit's priors centred on R-Net's shape) or of the dense fit (``None``), for the found photos."""
    model = load_ict_model()
    corr = mediapipe_correspondence()
    ok = det["found"]
    fixed = angles = None
    if weights is not None:
        est = Reconstruct3DMM(method="rnet", weights=None if weights == "embedded" else weights).fit()
        fixed, angles, _ = est._regress(det["crop"][ok], est._setup())
    size = det["size"][ok]
    fit = fit_shape_and_pose(
        model,
        det["mesh"][ok],
        default_focal(size),
        size / 2,
        fixed_shape=None if refine else fixed,
        prior_shape=fixed if refine else None,
        identity_reg=Reconstruct3DMM().identity_reg,
        expression_reg=Reconstruct3DMM().expression_reg,
        landmark_vertices=corr.vertex_ids,
        weights=corr.weights(),
    )
    blocks = fit_to_blocks(fit, model)
    return {
        "alpha": blocks["alpha"],
        "beta": blocks["beta"],
        "pose": blocks["pose"][:, :3] if angles is None else angles,
        "pose_fit": blocks["pose"][:, :3],
        "lm68": _project_68(model, fit).numpy(),
    }


def aflw(folder: Path, runs: dict, cache: Path) -> tuple[list, dict]:
    files = sorted(folder.glob("image*.jpg"))
    det = detections("aflw2000", files, cache)
    gt, pose_gt, norm, in_range = aflw_truth(files)
    ok = det["found"]
    yaw = np.abs(pose_gt[:, 1])
    rows, data = [], {}
    for label, (weights, refine) in runs.items():
        c = coefficients(det, weights, refine)
        nme = np.linalg.norm(c["lm68"] - gt[ok], axis=-1).mean(1) / norm[ok] * 100
        bins = [
            float(nme[(yaw[ok] >= lo) & (yaw[ok] < hi)].mean()) for lo, hi in ((0, 30), (30, 60), (60, 1e9))
        ]
        sel = in_range[ok]
        mae, mae_fit = (
            np.abs(-c[k][:, [1, 0, 2]][sel] - pose_gt[ok][sel]).mean(0) for k in ("pose", "pose_fit")
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


def expressions(folder: Path, runs: dict, cache: Path) -> tuple[list, dict]:
    files, labels, people = expression_files(folder)
    det = detections("expressions", files, cache)
    ok = det["found"]
    y, groups = labels[ok], people[ok]
    rows, data = [], {}
    for label, (weights, refine) in runs.items():
        beta = coefficients(det, weights, refine)["beta"]
        s = {
            name: float(
                cross_val_score(
                    make_pipeline(StandardScaler(), clf), beta, y, groups=groups, cv=GroupKFold(5)
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


def identity(folder: Path, runs: dict, cache: Path) -> tuple[list, dict]:
    files = webmorph_pairs(folder)
    det = detections("webmorph", files, cache)
    n = len(files) // 2
    pair = det["found"][:n] & det["found"][n:]
    rows, data = [], {}
    for label, (weights, refine) in runs.items():
        alpha = np.full((2 * n, 100), np.nan)
        alpha[det["found"]] = coefficients(det, weights, refine)["alpha"]
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


def adapt(weights: str, folders: str, epochs: int, out: Path) -> str:
    """Fine-tune R-Net on unlabelled photos with the hybrid loss; the checkpoint's path."""
    from sk3dmm.nets._rnet_io import ICT_SIZES

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
            "sizes": ICT_SIZES,
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
            rows, data[name] = fn(Path(folder), runs, out)
            lines += rows + [""]
    lines.append(
        f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
        f"{time.perf_counter() - t0:.0f} s. R-Net path: R-Net's alpha/beta/angles, pose fitted to "
        "MediaPipe's 468 points with that shape."
    )
    write_report(out, "rnet_real", "\n".join(lines), data)


if __name__ == "__main__":
    main()
