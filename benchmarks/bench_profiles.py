"""Profiles: rows by yaw on a synthetic 5-angle set, how the far side's blendshapes are set, and
(with ``--aflw2000``) whether R-Net on RetinaFace's crop could stand in for an unreliable mesh.

    python benchmarks/bench_profiles.py [--aflw2000 ../shared/realfaces/aflw2000-3d]

1. A synthetic KDEF-like set (``make_synthetic_faces``: 7 expressions x 5 angles, FL HL S HR FR =
   -90 -45 0 45 90 deg of yaw) through each detector: the share of photos with a row, by angle,
   and which detector found the face.
2. Far-side expression: MAE of the default's ``beta`` against the true blendshapes, for the
   subject's ``_L`` and ``_R`` blendshapes and the unsided ones, as fitted and with the far
   side (by the sign of the fitted yaw) copied from the near side (a symmetric copy).
3. AFLW2000-3D beyond 60 deg (evaluation only): head-pose MAE of the default fit against R-Net's
   angles from the 5-point crop on RetinaFace's keypoints, for the faces the cascade kept on
   RetinaFace's score with a mesh that says "no face" (``mesh_score`` < 0.05).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _report import write_report

from sk3dmm import Reconstruct3DMM
from sk3dmm.datasets import make_synthetic_faces
from sk3dmm.faces import detect_faces, five_point_crop, largest_face, load_image
from sk3dmm.metrics import pitch_yaw_roll

ANGLES = ("FL", "HL", "S", "HR", "FR")


def rows_by_angle(faces, detectors) -> tuple[list[str], dict]:
    angle = faces.frame["angle"].to_numpy()
    lines = ["| detector | " + " | ".join(ANGLES) + " | found by |", "|---|" + "---|" * len(ANGLES) + "---|"]
    data = {}
    for det in detectors:
        est = Reconstruct3DMM(detector=det, coef="beta", on_error="nan", cache=False)
        frame = est.to_frame(list(faces.images))
        ok = np.isfinite(frame.iloc[:, :53].to_numpy()).all(1)
        rates = {a: float(ok[angle == a].mean()) for a in ANGLES}
        by = frame["found_by"].value_counts().to_dict()
        data[det] = {"rows": rates, "found_by": by}
        lines.append(
            f"| {det} | " + " | ".join(f"{100 * rates[a]:.1f}%" for a in ANGLES)
            + f" | {', '.join(f'{k} {v}' for k, v in sorted(by.items()))} |"
        )  # fmt: skip
    return lines, data


def far_side(faces) -> tuple[list[str], dict]:
    est = Reconstruct3DMM(coef=("beta", "pose"), on_error="nan", cache=False)
    X = est.fit_transform(list(faces.images))
    names = [n.removeprefix("beta_") for n in est.get_feature_names_out()[: faces.beta.shape[1]]]
    beta, yaw = X[:, : len(names)], X[:, len(names)]
    left = [i for i, n in enumerate(names) if n.endswith("_L")]
    right = [names.index(names[i][:-2] + "_R") for i in left]
    centre = [i for i, n in enumerate(names) if not n.endswith(("_L", "_R"))]
    angle = faces.frame["angle"].to_numpy()
    lines = [
        "| angle | fitted yaw (median) | MAE `_L` / `_R` / unsided | far side as fitted | far side copied from the near side | all, as fitted / copied |",
        "|---|---|---|---|---|---|",
    ]
    data = {}
    for a in ANGLES:
        sel = (angle == a) & np.isfinite(beta).all(1)
        err = np.abs(beta[sel] - faces.beta[sel])
        e_left, e_right = err[:, left].mean(), err[:, right].mean()
        # the far side by the fitted yaw: turned to negative yaw, the subject's right (_R) is hidden
        copied = beta[sel].copy()
        turned_left = yaw[sel] < 0
        copied[np.ix_(turned_left, right)] = beta[sel][np.ix_(turned_left, left)]
        copied[np.ix_(~turned_left, left)] = beta[sel][np.ix_(~turned_left, right)]
        far = np.where(turned_left[:, None], err[:, right], err[:, left])
        err_copy = np.abs(copied - faces.beta[sel])
        far_copy = np.where(turned_left[:, None], err_copy[:, right], err_copy[:, left])
        data[a] = {
            "left": float(e_left), "right": float(e_right), "unsided": float(err[:, centre].mean()),
            "far_fitted": float(far.mean()), "far_copied": float(far_copy.mean()),
            "all_fitted": float(err.mean()), "all_copied": float(err_copy.mean()),
        }  # fmt: skip
        d = data[a]
        lines.append(
            f"| {a} | {np.median(yaw[sel]):.1f} | {d['left']:.3f} / {d['right']:.3f} / {d['unsided']:.3f} | "
            f"{d['far_fitted']:.3f} | {d['far_copied']:.3f} | {d['all_fitted']:.3f} / {d['all_copied']:.3f} |"
        )
    return lines, data


def rnet_on_profiles(folder: Path, weights: list[str]) -> tuple[list[str], dict]:
    """Pose MAE and 68-point NME beyond 60 deg of yaw: the fit to the mesh (``profiles="fit"``),
    the default (``profiles="network"``), and R-Net on every face's 5-point crop on RetinaFace's
    keypoints (the embedded R-Net, and each of ``weights``, the camera's scale and shift fitted
    to the keypoints), on every profile and on those the mesh says hold no face."""
    from bench_real import aflw_truth

    files = sorted(folder.glob("image*.jpg"))
    gt, pose_gt, norm, in_range = aflw_truth(files)
    sel = np.flatnonzero((np.abs(pose_gt[:, 1]) >= 60) & in_range)
    files, gt, pose_gt, norm = [files[i] for i in sel], gt[sel], pose_gt[sel], norm[sel]
    recs, rows = None, {}
    for profiles, label in (
        ("fit", "the fit to the mesh (profiles='fit')"),
        ("network", "the default (profiles='network')"),
    ):
        est = Reconstruct3DMM(coef="pose", on_error="nan", cache=False, profiles=profiles)
        done = est.reconstruct([str(f) for f in files])
        recs = done if recs is None else recs
        pose = pitch_yaw_roll(
            np.stack([r.coefficients["pose"][:3] if r is not None else np.full(3, np.nan) for r in done])
        )
        nme = np.array(
            [
                np.linalg.norm(r.fitted_landmarks - g, axis=1).mean() if r is not None else np.nan
                for r, g in zip(done, gt)
            ]
        )
        rows[label] = (pose, nme / norm * 100)
    keep = np.array([r is not None for r in recs])
    unusable = np.array([r is not None and r.found_by == "retinaface" and r.mesh_score < 0.05 for r in recs])
    keypoints = [_largest_retinaface_keypoints(load_image(f)) for f in files]
    for label, path, levelled in [("embedded R-Net (trained to 60 deg), crop turned level", None, True)] + [
        (f"R-Net {Path(w).name}, crop as found", w, False) for w in weights
    ]:
        rows[label] = _rnet_rows(files, keypoints, path, levelled, gt, norm)
    data, lines = {"n_profiles": len(files), "n_unusable_mesh": int(unusable.sum())}, []
    for subset, mask in (("every profile", keep), ("mesh says no face", unusable)):
        lines += [
            f"AFLW2000-3D, yaw 60-90 deg, all angles within 99 deg, {subset}: {int(mask.sum())} photos",
            "",
            "| on those faces | yaw | pitch | roll (MAE, deg) | 68-pt NME % |",
            "|---|---|---|---|---|",
        ]
        for label, (pose, nme) in rows.items():
            ok = mask & np.isfinite(nme)
            mae = np.abs(pose[ok] - pose_gt[ok]).mean(0)
            lines.append(f"| {label} | {mae[1]:.2f} | {mae[0]:.2f} | {mae[2]:.2f} | {np.mean(nme[ok]):.2f} |")
            data[f"{subset}/{label}"] = {
                "pose_mae_pyr": mae.tolist(),
                "nme": float(np.mean(nme[ok])),
                "n": int(ok.sum()),
            }
        lines.append("")
    return lines, data


def _largest_retinaface_keypoints(image: np.ndarray) -> np.ndarray | None:
    faces = detect_faces(image, "retinaface")
    return largest_face(faces).keypoints if faces else None


def _rnet_rows(files, keypoints, weights, levelled, gt, norm):
    """R-Net's pose (AFLW's order and signs) and 68-point NME on the keypoint crops; the camera's
    scale and shift fitted to the five keypoints with R-Net's rotation held."""
    from sk3dmm.faces import align_crop, five_as_68, five_points
    from sk3dmm.fitting import euler_to_matrix
    from sk3dmm.morphable import load_ict_model
    from sk3dmm.nets import load_rnet
    from sk3dmm.regressors import photo_angles

    model = load_ict_model()
    bundle = load_rnet(weights, model)
    spec = (bundle.template5, bundle.input_size, bundle.rescale_factor)
    pose, nme = np.full((len(files), 3), np.nan), np.full(len(files), np.nan)
    for n, (f, k) in enumerate(zip(files, keypoints)):
        if k is None:
            continue
        image, points = load_image(f), five_as_68(k)
        if levelled:
            crop = five_point_crop(image, points, spec)
            pixels, roll = crop.pixels, crop.rotation
        else:
            pixels, _, _ = align_crop(image, points, *spec)
            roll = 0.0
        with torch.no_grad():
            x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float() / 255.0  # R-Net's input
            coefs, _ = bundle.net.predict_with_features(x)
        blocks = {b: v.double() for b, v in bundle.net.split(coefs.float()).items()}
        angles = photo_angles(np.rad2deg(blocks["angle"].numpy()), np.array([roll]))[0]
        pose[n] = pitch_yaw_roll(angles[None])[0]
        rot = euler_to_matrix(*(torch.tensor(np.deg2rad(a), dtype=torch.float64) for a in angles))
        lm3 = model.vertices(blocks["id"], blocks["exp"], model.landmark_indices)[0] @ rot.T
        xy = lm3[:, :2].numpy()  # the camera frame: x right, y down (as pixels)
        src = five_points(xy)
        a = np.c_[src.reshape(-1, 1), np.tile(np.eye(2), (5, 1))]  # s * p + t
        s, tx, ty = np.linalg.lstsq(a, np.asarray(k, np.float64).reshape(-1), rcond=None)[0]
        nme[n] = np.linalg.norm(s * xy + [tx, ty] - gt[n], axis=1).mean() / norm[n] * 100
    return pose, nme


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--detectors", nargs="+", default=["mediapipe_v2", "cascade", "retinaface"])
    p.add_argument("--aflw2000")
    p.add_argument("--rnet", nargs="*", default=[], help="R-Net checkpoints to try on the AFLW profiles")
    p.add_argument("--skip-rows", action="store_true", help="only the far-side table (and AFLW)")
    p.add_argument("--aflw-only", action="store_true", help="only the AFLW profiles' table")
    p.add_argument("--out", default="results/profiles")
    args = p.parse_args()
    faces = make_synthetic_faces(args.people, image_size=256, random_state=args.seed)
    n = len(faces.images) // len(ANGLES)
    if args.aflw_only:
        lines, data = rnet_on_profiles(Path(args.aflw2000), args.rnet)
        return write_report(args.out, "profiles_aflw", "\n".join(lines), data)
    rows, data_rows = ([], {}) if args.skip_rows else rows_by_angle(faces, args.detectors)
    far, data_far = far_side(faces)
    sections = [
        f"Synthetic 5-angle set: {args.people} people x 7 expressions, {n} photos per angle, 256 px, "
        f"seed {args.seed}. Share of photos with a row:",
        "",
        *rows,
        "",
        "Far-side expression (default: cascade + blendshapes_prior), MAE of `beta` against the true blendshapes:",
        "",
        *far,
    ]
    data = {"rows_by_angle": data_rows, "far_side": data_far}
    if args.aflw2000:
        lines, data["aflw_rnet_on_profiles"] = rnet_on_profiles(Path(args.aflw2000), args.rnet)
        sections += ["", *lines]
    write_report(args.out, "profiles", "\n".join(sections), data)


if __name__ == "__main__":
    main()
