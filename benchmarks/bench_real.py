"""sk3dmm on real photos: landmarks and pose (AFLW2000-3D), expression (posed expressions),
identity across expression (webmorph), detection rate and speed, for every detector and method.

Reads the folders of ``../shared/realfaces`` (evaluation only: nothing is copied, nothing is
trained on them); pass the ones you have::

    python benchmarks/bench_real.py --aflw2000 ../shared/realfaces/aflw2000-3d \\
        --expressions ../shared/realfaces/taiwanese-expressions/images \\
        --webmorph ../shared/realfaces/webmorph

Protocols (see the realfaces README): AFLW2000-3D 68-point NME (% of sqrt(w h) of the true
points' box) by absolute yaw bin and their mean, head-pose MAE over the photos with all angles
within 99 degrees, the angles of the fitted rotation taken in AFLW's own order (pitch, yaw,
roll of ``Rx Ry Rz``: :func:`sk3dmm.metrics.pitch_yaw_roll`; before 0.7.1 sk3dmm's yaw, pitch
and roll of ``Ry Rx Rz`` were compared with them, which differ beyond 60 degrees); photos where no face is found are counted as failures and left out of the
errors. Expressions: 7 classes, 5 folds disjoint in performers, the same photos and folds for
every row (those every detector found), beside HOG + SVM and pixels + PCA + SVM on the 5-point
aligned crops. Identity: enrol the neutral photo, recognise the smiling one (rank-1 over all
people), and the ROC AUC of same-person vs other-person cosine similarities.
"""

from __future__ import annotations

import argparse
import platform
import re
import time
from pathlib import Path

import numpy as np
import scipy.io
from _report import write_report
from sklearn import config_context
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sk3dmm import CoefResNetClassifier, HOGFeatures, Reconstruct3DMM
from sk3dmm.faces import detect_faces, load_image
from sk3dmm.metrics import pitch_yaw_roll

EXPRESSION_NAME = re.compile(r"(\d\d)(\d)(\d)([a-g])\d+\.jpg$")
PUBLISHED = (
    "Published on AFLW2000-3D (realfaces README): NME PRNet 2.75 / 3.51 / 4.61 (mean 3.62), "
    "3DDFA_V2 mean ~3.5; pose MAE img2pose 3.43 / 5.03 / 3.28 (3.91), 6DRepNet (3.97), FSA-Net (5.07)."
)


CACHE = False  # --cache DIR: stages shared across methods (the seconds per photo then mean little)


PROFILES = ["fit"]  # --profiles: AFLW2000-3D rows for each Reconstruct3DMM(profiles=...)


def reconstruct(paths, detector: str, method: str, n_jobs: int | None, profiles: str = "fit"):
    """Reconstructions (None where no face was found) and seconds per photo."""
    est = Reconstruct3DMM(
        detector=detector,
        method=method,
        profiles=profiles,
        coef=("alpha", "beta", "pose"),
        on_error="nan",
        cache=CACHE,
        n_jobs=n_jobs,
        progress=True,
    )
    t0 = time.perf_counter()
    recs = est.fit().reconstruct([str(p) for p in paths])
    return recs, (time.perf_counter() - t0) / len(paths)


def configurations(detectors, methods):
    """Every (detector, method) pair that can run: methods reading MediaPipe's blendshape
    scores only with a detector that gives them."""
    from sk3dmm.faces.landmarkers import gives_blendshapes
    from sk3dmm.regressors import reads_blendshapes

    return [(d, m) for d in detectors for m in methods if gives_blendshapes(d) or not reads_blendshapes(m)]


# ---------------------------------------------------------------------------- AFLW2000-3D
def aflw_truth(files: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AFLW2000-3D ground truth: 68 points (n, 68, 2), pose (pitch, yaw, roll in degrees), the
    NME normaliser sqrt(w h) of the true points' box, and which photos have all angles within 99 deg."""
    truth = [scipy.io.loadmat(f.with_suffix(".mat")) for f in files]
    gt = np.stack([t["pt3d_68"][:2].T for t in truth])
    pose_gt = np.rad2deg(np.stack([t["Pose_Para"][0, :3] for t in truth]))
    wh = gt.max(1) - gt.min(1)
    return gt, pose_gt, np.sqrt(wh[:, 0] * wh[:, 1]), (np.abs(pose_gt) <= 99).all(1)


def aflw2000(folder: Path, detectors, methods, limit, n_jobs):
    files = sorted(folder.glob("image*.jpg"))[:limit]
    gt, pose_gt, norm, in_range = aflw_truth(files)
    yaw = np.abs(pose_gt[:, 1])
    bins = [(0, 30), (30, 60), (60, 1e9)]
    rows, data, seconds, fine_rows = [], {}, {}, []
    fine = [(lo, lo + 15) for lo in range(0, 90, 15)]
    fine[-1] = (75, 1e9)
    for det, meth, prof in [(d, m, p) for d, m in configurations(detectors, methods) for p in PROFILES]:
        recs, sec = reconstruct(files, det, meth, n_jobs, prof)
        shown = meth if prof == "fit" else f"{meth} (profiles={prof})"
        seconds[f"{det}/{shown}"] = sec
        found = np.array([r is not None for r in recs])
        found_by = {}
        for r in recs:
            if r is not None and r.found_by:
                found_by[r.found_by] = found_by.get(r.found_by, 0) + 1
        variants = [("fit", lambda r: r.fitted_landmarks)]
        if meth == methods[0] and prof == PROFILES[0]:
            variants.insert(0, ("detector's 68", lambda r: r.landmarks))
        for label, get in variants:
            pred = np.stack([get(r) if r is not None else np.full((68, 2), np.nan) for r in recs])
            nme = np.linalg.norm(pred - gt, axis=-1).mean(1) / norm * 100
            by_bin = [float(np.nanmean(nme[found & (yaw >= lo) & (yaw < hi)])) for lo, hi in bins]
            det_by_bin = [float(found[(yaw >= lo) & (yaw < hi)].mean()) for lo, hi in bins]
            entry = {
                "nme_bins": by_bin,
                "nme_mean": float(np.mean(by_bin)),
                "found_bins": det_by_bin,
                "found": float(found.mean()),
            }
            name = f"{det} / {shown if label == 'fit' else label}"
            if label == "fit":
                est = np.stack(
                    [r.coefficients["pose"][:3] if r is not None else np.full(3, np.nan) for r in recs]
                )
                est = pitch_yaw_roll(est)  # the same rotation in AFLW's order (x, then y, then z)
                sel = found & in_range
                mae = np.abs(est[sel] - pose_gt[sel]).mean(0)
                entry["pose_mae_yaw_pitch_roll"] = [float(mae[1]), float(mae[0]), float(mae[2])]
                pose = f"{mae[1]:.2f} / {mae[0]:.2f} / {mae[2]:.2f} ({mae.mean():.2f})"
            else:
                pose = "-"
            entry["found_by"] = found_by
            data[name] = entry
            if label == "fit":
                fine_found = [100 * found[(yaw >= lo) & (yaw < hi)].mean() for lo, hi in fine]
                fine_nme = [np.nanmean(nme[found & (yaw >= lo) & (yaw < hi)]) for lo, hi in fine]
                entry["fine_bins"] = {"found": fine_found, "nme": [float(v) for v in fine_nme]}
                by = ", ".join(f"{k} {v}" for k, v in sorted(found_by.items())) or "-"
                fine_rows.append(
                    f"| {name} | "
                    + " | ".join(f"{f:.0f}% / {n:.2f}" for f, n in zip(fine_found, fine_nme))
                    + f" | {by} |"
                )
            rows.append(
                f"| {name} | {100 * found.mean():.1f}% ({' / '.join(f'{100 * v:.0f}' for v in det_by_bin)}) | "
                f"{' / '.join(f'{v:.2f}' for v in by_bin)} | **{np.mean(by_bin):.2f}** | {pose} |"
            )
    lines = [
        f"AFLW2000-3D, {len(files)} photos (yaw bins 0-30 / 30-60 / 60-90: "
        f"{' / '.join(str(int(((yaw >= lo) & (yaw < hi)).sum())) for lo, hi in bins)} photos)",
        "",
        "| detector / method | face found (by bin) | 68-pt NME % by yaw bin | NME mean | pose MAE yaw / pitch / roll (mean), deg |",
        "|---|---|---|---|---|",
        *rows,
        "",
        PUBLISHED,
        "",
        "By 15 deg of absolute yaw (photos: "
        + " / ".join(str(int(((yaw >= lo) & (yaw < hi)).sum())) for lo, hi in fine)
        + "): face found / 68-point NME % of the fit",
        "",
        "| detector / method | " + " | ".join(f"{lo}-{min(hi, 90):.0f}" for lo, hi in fine) + " | found by |",
        "|---|" + "---|" * len(fine) + "---|",
        *fine_rows,
    ]
    return "\n".join(lines), data, seconds


# ---------------------------------------------------------------------------- expressions
def _hog(crops):
    return HOGFeatures().fit_transform(crops).astype(np.float64)


def expression_files(folder: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """The posed-expression photos, their expression letter and their performer."""
    files, labels, people = [], [], []
    for f in sorted(folder.glob("*.jpg")):
        m = EXPRESSION_NAME.match(f.name)
        if m:
            files.append(f)
            labels.append(m.group(4))
            people.append(m.group(1))
    return files, np.array(labels), np.array(people)


def expressions(folder: Path, detectors, methods, n_jobs):
    files, labels, people = expression_files(folder)
    results, seconds = {}, {}
    for det, meth in configurations(detectors, methods):
        results[(det, meth)], seconds[f"{det}/{meth}"] = reconstruct(files, det, meth, n_jobs)
    common = np.all([[r is not None for r in recs] for recs in results.values()], axis=0)
    folds = GroupKFold(5)
    y, groups = labels[common], people[common]

    def score(features, clf):
        with config_context(enable_metadata_routing=True):
            if isinstance(clf, CoefResNetClassifier):  # early stopping holds out whole performers
                clf.set_fit_request(groups=True)
            pipe = make_pipeline(StandardScaler(), clf)
            return float(cross_val_score(pipe, features, y, params={"groups": groups}, cv=folds).mean())

    rows, data = [], {}
    for (det, meth), recs in results.items():
        beta = np.stack([recs[i].coefficients["beta"] for i in np.flatnonzero(common)])
        s = {
            "svc": score(beta, SVC()),
            "logreg": score(beta, LogisticRegression(max_iter=3000)),
            "mlp": score(beta, CoefResNetClassifier(random_state=0)),
        }
        data[f"{det}/{meth} beta"] = s
        rows.append(
            f"| `beta`, {det} / {meth} | {100 * s['svc']:.1f}% | {100 * s['logreg']:.1f}% | {100 * s['mlp']:.1f}% |"
        )
    for det in detectors:
        recs = next(r for (d, _), r in results.items() if d == det)
        picked = [recs[i] for i in np.flatnonzero(common)]
        if picked[0].coefficients.get("blendshape_scores") is not None:  # MediaPipe v2's own outputs, raw
            scores = np.stack([r.coefficients["blendshape_scores"] for r in picked])
            mesh = np.stack([r.mesh[:, :2] for r in picked])
            mesh = ((mesh - mesh.mean(1, keepdims=True)) / mesh.std(axis=(1, 2), keepdims=True)).reshape(
                len(mesh), -1
            )
            for key, label, feats in (
                ("blendshape scores raw", f"{det}'s 52 blendshape scores, raw (reference)", scores),
                ("478 points raw", f"{det}'s 478 points, raw (centred, scaled; reference)", mesh),
            ):
                s = {
                    "svc": score(feats, SVC()),
                    "logreg": score(feats, LogisticRegression(max_iter=3000)),
                }
                data[f"{det} {key}"] = s
                rows.append(f"| {label} | {100 * s['svc']:.1f}% | {100 * s['logreg']:.1f}% | - |")
        lm = np.stack([r.landmarks for r in picked])
        lm = (lm - lm.mean(1, keepdims=True)) / lm.std(axis=(1, 2), keepdims=True)
        s = {
            "svc": score(lm.reshape(len(lm), -1), SVC()),
            "logreg": score(lm.reshape(len(lm), -1), LogisticRegression(max_iter=3000)),
        }
        data[f"{det} 68 landmarks raw"] = s
        rows.append(
            f"| {det}'s 68 points, raw (centred, scaled) | {100 * s['svc']:.1f}% | {100 * s['logreg']:.1f}% | - |"
        )
    recs = results[(detectors[0], "landmarks" if "landmarks" in methods else methods[0])]
    crops = [recs[i].crop for i in np.flatnonzero(common)]
    hog = _hog(crops)
    s = {"svc": score(hog, SVC()), "logreg": score(hog, LogisticRegression(max_iter=3000))}
    data["HOG"] = s
    rows.append(
        f"| HOG of the aligned crop (baseline) | {100 * s['svc']:.1f}% | {100 * s['logreg']:.1f}% | - |"
    )
    pixels = np.stack([c.mean(-1).ravel() for c in crops]).astype(np.float64)
    pca_svc = float(
        cross_val_score(
            make_pipeline(StandardScaler(), PCA(100, random_state=0), SVC()),
            pixels,
            y,
            groups=groups,
            cv=folds,
        ).mean()
    )
    data["pixels PCA"] = {"svc": pca_svc}
    rows.append(f"| pixels of the aligned crop + PCA(100) (baseline) | {100 * pca_svc:.1f}% | - | - |")
    lines = [
        f"Posed expressions: {common.sum()} photos found by every detector of {len(files)}, "
        f"{len(set(groups))} performers, 7 classes, 5 performer-disjoint folds (GroupKFold), chance 14%",
        "",
        "| features | SVC (RBF) | logistic regression | CoefResNetClassifier (residual MLP) |",
        "|---|---|---|---|",
        *rows,
    ]
    return "\n".join(lines), data, seconds


# ---------------------------------------------------------------------------- identity
def webmorph_pairs(folder: Path) -> list[Path]:
    """The neutral photos of the people photographed both ways, then their smiling photos."""
    neutral = {f.stem.split("_")[0]: f for f in sorted((folder / "neutral_front").glob("*.jpg"))}
    smiling = {f.stem.split("_")[0]: f for f in sorted((folder / "smiling_front").glob("*.jpg"))}
    people = sorted(set(neutral) & set(smiling))
    return [neutral[p] for p in people] + [smiling[p] for p in people]


def identify(feats: np.ndarray) -> tuple[float, float, int]:
    """Rank-1 and verification AUC of cosine similarity between the first half of ``feats``
    (enrolled) and the second (probes), over the pairs without NaN rows; and their number."""
    n = len(feats) // 2
    ok = ~np.isnan(feats).any(1)
    pair_ok = ok[:n] & ok[n:]
    a, b = feats[:n][pair_ok], feats[n:][pair_ok]
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    sim = b @ a.T
    rank1 = float((sim.argmax(1) == np.arange(len(a))).mean())
    same = np.eye(len(a), dtype=bool)
    auc = float(roc_auc_score(same.ravel(), sim.ravel()))
    return rank1, auc, int(pair_ok.sum())


def identity(folder: Path, detectors, methods, n_jobs):
    files = webmorph_pairs(folder)
    n = len(files) // 2
    rows, data, seconds = [], {}, {}

    for det, meth in configurations(detectors, methods):
        recs, seconds[f"{det}/{meth}"] = reconstruct(files, det, meth, n_jobs)
        alpha = np.stack([r.coefficients["alpha"] if r is not None else np.full(100, np.nan) for r in recs])
        rank1, auc, pairs = identify(alpha)
        data[f"{det}/{meth} alpha"] = {"rank1": rank1, "auc": auc, "pairs": pairs}
        rows.append(f"| `alpha`, {det} / {meth} | {pairs} | {100 * rank1:.1f}% | {auc:.3f} |")
    # reference: dlib's 128-d face recognition ResNet (face_recognition_models, CC0)
    import dlib

    from sk3dmm.faces import models_dir

    encoder = dlib.face_recognition_model_v1(str(models_dir() / "dlib_face_recognition_resnet_model_v1.dat"))
    shaper = dlib.shape_predictor(str(models_dir() / "shape_predictor_5_face_landmarks.dat"))
    feats = []
    for f in files:
        img = load_image(f)
        faces = detect_faces(img, "hog")
        if not faces:
            feats.append(np.full(128, np.nan))
            continue
        box = faces[0].box.astype(int)
        shape = shaper(img, dlib.rectangle(*[int(v) for v in box]))
        feats.append(np.array(encoder.compute_face_descriptor(img, shape)))
    rank1, auc, pairs = identify(np.stack(feats))
    data["dlib face descriptor"] = {"rank1": rank1, "auc": auc, "pairs": pairs}
    rows.append(
        f"| dlib's 128-d face-recognition ResNet (reference) | {pairs} | {100 * rank1:.1f}% | {auc:.3f} |"
    )
    lines = [
        f"Identity across expression (webmorph, CC BY 4.0): {n} people, neutral photo enrolled, smiling "
        "photo recognised among all; cosine similarity",
        "",
        "| features | pairs found | rank-1 | verification AUC |",
        "|---|---|---|---|",
        *rows,
    ]
    return "\n".join(lines), data, seconds


def detection_speed(paths, detectors, repeats: int = 1, long_side: int | None = None):
    """Detection (+ landmarks) alone, ms per photo, one photo at a time in this process
    (``long_side``: the photos resized to this long side first)."""
    images = [load_image(p) for p in paths]
    if long_side:
        from PIL import Image

        images = [
            np.asarray(Image.fromarray(im).resize((round(im.shape[1] * long_side / max(im.shape[:2])),
                                                    round(im.shape[0] * long_side / max(im.shape[:2]))), Image.BILINEAR))
            for im in images
        ]  # fmt: skip
    out = {}
    for det in detectors:
        detect_faces(images[0], det)  # load the model
        t0 = time.perf_counter()
        for _ in range(repeats):
            for im in images:
                detect_faces(im, det)
        out[det] = (time.perf_counter() - t0) / (repeats * len(images)) * 1000
    return out


def end_to_end(paths, configs, n_jobs) -> dict[str, float]:
    """Seconds per photo of each (detector, method), uncached, models loaded first."""
    global CACHE
    kept, CACHE = CACHE, False
    try:
        out = {}
        for det, meth in configs:
            reconstruct(paths[:2], det, meth, n_jobs)  # load the models
            out[f"{det}/{meth}"] = reconstruct(paths, det, meth, n_jobs)[1]
        return out
    finally:
        CACHE = kept


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--aflw2000")
    p.add_argument("--expressions")
    p.add_argument("--webmorph")
    p.add_argument(
        "--detectors",
        nargs="+",
        default=["hog", "mediapipe", "mediapipe_v2", "retinaface", "cascade", "none"],
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=["landmarks", "rnet", "blendshapes", "blendshapes_prior", "rnet_blendshapes"],
    )
    p.add_argument(
        "--profiles",
        nargs="+",
        default=["fit"],
        choices=["fit", "network"],
        help="AFLW2000-3D rows for each Reconstruct3DMM(profiles=...)",
    )
    p.add_argument("--limit", type=int, default=None, help="first N AFLW2000-3D photos")
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--speed-photos", type=int, default=100, help="photos timed for detection speed")
    p.add_argument("--speed-long-side", type=int, default=640, help="photos resized to this long side for it")
    p.add_argument("--out", default="results/real")
    p.add_argument(
        "--cache", default=None, help="a folder: reuse detections and R-Net across methods and runs"
    )
    args = p.parse_args()
    global CACHE
    CACHE = args.cache or False
    PROFILES[:] = args.profiles
    import torch

    header = (
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, CPU. Detectors {args.detectors}, methods {args.methods}."
    )
    sections, data = [header], {}
    if args.aflw2000:
        text, d, sec = aflw2000(Path(args.aflw2000), args.detectors, args.methods, args.limit, args.n_jobs)
        sections.append(text)
        data["aflw2000"] = {"results": d, "seconds_per_photo": sec}
        write_report(args.out, "real", "\n\n".join(sections), data)
        paths = sorted(Path(args.aflw2000).glob("image*.jpg"))[: args.speed_photos]
        ms = detection_speed(paths, args.detectors, long_side=args.speed_long_side)
        data["detection_ms"] = ms
        if CACHE:  # the AFLW2000-3D runs reused stages: time end to end again, uncached
            sec = end_to_end(paths, configurations(args.detectors, args.methods), args.n_jobs)
        data["end_to_end_ms"] = {k: 1000 * v for k, v in sec.items()}
        sections.append(
            f"Speed ({len(paths)} AFLW2000-3D photos; detection one photo at a time at "
            f"{args.speed_long_side} x {args.speed_long_side} px, "
            "Reconstruct3DMM in its batches, no cache): detection + landmarks "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items())
            + "; Reconstruct3DMM end to end per photo: "
            + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in sec.items())
        )
        write_report(args.out, "real", "\n\n".join(sections), data)
    if args.expressions:
        text, d, sec = expressions(Path(args.expressions), args.detectors, args.methods, args.n_jobs)
        sections.append(text)
        data["expressions"] = {"results": d, "seconds_per_photo": sec}
        write_report(args.out, "real", "\n\n".join(sections), data)
    if args.webmorph:
        text, d, sec = identity(Path(args.webmorph), args.detectors, args.methods, args.n_jobs)
        sections.append(text)
        data["identity"] = {"results": d, "seconds_per_photo": sec}
        write_report(args.out, "real", "\n\n".join(sections), data)


if __name__ == "__main__":
    main()
