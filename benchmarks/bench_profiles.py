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
import scipy.io
import torch
from _report import write_report

from sk3dmm import Reconstruct3DMM
from sk3dmm.datasets import make_synthetic_faces
from sk3dmm.faces import detect_faces, five_point_crop, load_image

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


def rnet_on_profiles(folder: Path) -> tuple[list[str], dict]:
    from sk3dmm.morphable import load_ict_model
    from sk3dmm.nets import load_rnet
    from sk3dmm.regressors import photo_angles

    files = sorted(folder.glob("image*.jpg"))
    truth = {f: np.rad2deg(scipy.io.loadmat(f.with_suffix(".mat"))["Pose_Para"][0, :3]) for f in files}
    profiles = [f for f in files if abs(truth[f][1]) >= 60 and (np.abs(truth[f]) <= 99).all()]
    bundle = load_rnet(None, load_ict_model())
    spec = (bundle.template5, bundle.input_size, bundle.rescale_factor)
    recs = Reconstruct3DMM(coef="pose", on_error="nan", cache=False).reconstruct([str(f) for f in profiles])
    fit_err, rnet_err = [], []
    for f, r in zip(profiles, recs):
        if r is None or r.found_by != "retinaface" or r.mesh_score >= 0.05:
            continue
        image = load_image(f)
        face = max(
            detect_faces(image, "retinaface"), key=lambda x: (x.box[2] - x.box[0]) * (x.box[3] - x.box[1])
        )
        k = face.keypoints  # as 68 points whose 5 Deep3DFaceRecon points are RetinaFace's
        points = np.zeros((68, 2))
        points[[36, 39]], points[[42, 45]], points[30], points[48], points[54] = k[0], k[1], k[2], k[3], k[4]
        crop = five_point_crop(image, points, spec)
        with torch.no_grad():
            pixels = torch.from_numpy(np.array(crop.pixels)).permute(2, 0, 1)[None].float() / 255.0
            coefs, _ = bundle.net.predict_with_features(pixels)
        angles = np.rad2deg(bundle.net.split(coefs.float())["angle"].numpy())
        ours = photo_angles(angles, np.array([crop.rotation]))[0]
        to_aflw = [1, 0, 2]  # (yaw, pitch, roll) -> AFLW's (pitch, yaw, roll), opposite signs
        fit_err.append(np.abs(-r.coefficients["pose"][to_aflw] - truth[f]))
        rnet_err.append(np.abs(-ours[to_aflw] - truth[f]))
    fit_mae, rnet_mae = np.mean(fit_err, 0), np.mean(rnet_err, 0)
    lines = [
        f"AFLW2000-3D, yaw 60-90 deg and all angles within 99 deg: {len(profiles)} photos; "
        f"{len(fit_err)} kept by the cascade on RetinaFace's score with mesh_score < 0.05.",
        "",
        "| on those faces | yaw | pitch | roll (MAE, deg) |",
        "|---|---|---|---|",
        f"| the default's fit to the mesh | {fit_mae[1]:.2f} | {fit_mae[0]:.2f} | {fit_mae[2]:.2f} |",
        f"| embedded R-Net (trained to 60 deg) on RetinaFace's 5-point crop | {rnet_mae[1]:.2f} | {rnet_mae[0]:.2f} | {rnet_mae[2]:.2f} |",
    ]
    return lines, {"n": len(fit_err), "fit_mae_pyr": fit_mae.tolist(), "rnet_mae_pyr": rnet_mae.tolist()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--detectors", nargs="+", default=["mediapipe_v2", "cascade", "retinaface"])
    p.add_argument("--aflw2000")
    p.add_argument("--skip-rows", action="store_true", help="only the far-side table (and AFLW)")
    p.add_argument("--out", default="results/profiles")
    args = p.parse_args()
    faces = make_synthetic_faces(args.people, image_size=256, random_state=args.seed)
    n = len(faces.images) // len(ANGLES)
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
        lines, data["aflw_rnet_on_profiles"] = rnet_on_profiles(Path(args.aflw2000))
        sections += ["", *lines]
    write_report(args.out, "profiles", "\n".join(sections), data)


if __name__ == "__main__":
    main()
