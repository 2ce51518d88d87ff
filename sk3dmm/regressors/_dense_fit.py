"""The landmark fit (:func:`sk3dmm.fitting.fit_shape_and_pose`) as a regressor: to every point of a
dense scheme on its model vertex (MediaPipe's 468 on the embedded ICT model), or to the 68
points. ``shape`` says what it does with the regressor before it: nothing (``"free"``), keep
its shape and fit the pose (``"fixed"``), centre the priors on it (``"prior"``), keep its
expression and fit identity and pose (``"expression"``), or both: identity's prior centred on
it and its expression kept (``"prior_expression"``)."""

from __future__ import annotations

import numpy as np
import torch

from ..faces import SCHEMES
from ..fitting import (
    default_focal,
    euler_to_matrix,
    fit_shape_and_pose,
    fit_to_blocks,
    matrix_to_euler,
    project,
    transform,
)
from ..morphable import MorphableModel
from ..pipeline._records import Coefficients
from ._settings import RegressionSettings


class LandmarkFitRegressor:
    """Pose, identity and expression fitted to the detected points, in batches."""

    name = "the fit"
    reads_crops = False

    def __init__(self, settings: RegressionSettings, shape: str = "free"):
        self.settings, self.shape = settings, shape
        s = settings
        self.key = (
            f"fit|{shape}|{s.model.fingerprint}|focal={s.focal_length!r}|n_iter={s.n_iter}|"
            f"id={s.identity_reg!r}|exp={s.expression_reg!r}|{s.precision}|{s.device.type}"
        )

    def __call__(self, items: list[tuple]) -> list[Coefficients]:
        s, model = self.settings, self.settings.model
        detections, crops, previous = zip(*items)
        sizes = np.array([d.image_size for d in detections], dtype=np.float64)
        focal = default_focal(sizes) if s.focal_length is None else np.full(len(items), s.focal_length)
        center = sizes / 2
        shape = (
            None
            if self.shape == "free"
            else tuple(np.stack([getattr(p, b) for p in previous]) for b in ("alpha", "beta"))
        )
        scheme = detections[0].found.scheme
        dense, fitted = dense_targets(model, scheme), SCHEMES[scheme].fitted
        fit = fit_shape_and_pose(
            model,
            np.stack([d.face.landmarks if dense is None else d.face.mesh[fitted, :2] for d in detections]),
            focal,
            center,
            fixed_shape=shape if self.shape == "fixed" else None,
            prior_shape=shape if self.shape in ("prior", "prior_expression") else None,
            fixed_expression=shape[1] if self.shape in ("expression", "prior_expression") else None,
            n_iter=s.n_iter,
            identity_reg=s.identity_reg,
            expression_reg=s.expression_reg,
            landmark_vertices=None if dense is None else dense.vertex_ids,
            weights=None if dense is None else dense.weights(),
            device=s.device,
            dtype=getattr(torch, s.precision),
        )
        blocks = fit_to_blocks(fit, model)
        if shape is not None and dense is None and previous[0].angles is not None:
            # R-Net's own angles: more accurate than a fit to dlib's 68 points at large yaw; a fit
            # to MediaPipe's 468 points is more accurate than either (AFLW2000-3D, bench_rnet_real.py)
            angles = np.stack([p.angles for p in previous])
            blocks["pose"][:, :3] = photo_angles(angles, np.array([c.rotation for c in crops]))
        fitted68 = fit.landmarks2d if dense is None else project_68(model, fit)
        return _rows(blocks, fit, fitted68, focal, center, previous)


def _rows(blocks, fit, fitted68, focal, center, previous) -> list[Coefficients]:
    """One :class:`Coefficients` per photo of a batch fit (R-Net's angles and features kept)."""
    rotation, translation = fit.rotation.cpu().numpy(), fit.translation.cpu().numpy()
    error, fitted68 = fit.reprojection_error.cpu().numpy(), fitted68.cpu().numpy()
    return [
        Coefficients(
            alpha=blocks["alpha"][j],
            beta=blocks["beta"][j],
            pose=blocks["pose"][j],
            angles=None if p is None else p.angles,
            features=None if p is None else p.features,
            focal=float(focal[j]),
            center=center[j],
            rotation=rotation[j],
            translation=translation[j],
            fitted_landmarks=fitted68[j],
            reprojection_error=float(error[j]),
        )
        for j, p in enumerate(previous)
    ]


def free_fit(settings: RegressionSettings) -> LandmarkFitRegressor:
    """The fit with its priors on the mean face (``method="landmarks"``)."""
    return LandmarkFitRegressor(settings, "free")


def pose_fit(settings: RegressionSettings) -> LandmarkFitRegressor:
    """The pose fitted with the previous regressor's shape held (``method="rnet"``)."""
    return LandmarkFitRegressor(settings, "fixed")


def refining_fit(settings: RegressionSettings) -> LandmarkFitRegressor:
    """The fit with its priors centred on the previous regressor's shape (``"rnet_refined"``)."""
    return LandmarkFitRegressor(settings, "prior")


def expression_fit(settings: RegressionSettings) -> LandmarkFitRegressor:
    """Identity and pose fitted with the previous regressor's expression held
    (``method="blendshapes"``: MediaPipe's scores as ``beta``)."""
    return LandmarkFitRegressor(settings, "expression")


def refining_expression_fit(settings: RegressionSettings) -> LandmarkFitRegressor:
    """Identity with its prior centred on the previous regressor's, its expression held, and
    the pose (``method="rnet_refined_blendshapes"``: R-Net's identity refined by the dense
    fit, MediaPipe's scores as ``beta``)."""
    return LandmarkFitRegressor(settings, "prior_expression")


def dense_targets(model: MorphableModel, scheme: str):
    """The model vertices of a dense scheme's points, or None when the points are fitted as
    their 68 iBUG points (a 68-point scheme, or a model the correspondence was not made for)."""
    from ..morphable import mediapipe_correspondence

    if not SCHEMES[scheme].dense or not (model.name.startswith("ICT") and model.n_vertices == 16434):
        return None
    return mediapipe_correspondence()


def project_68(model: MorphableModel, fit) -> torch.Tensor:
    """The model's 68 landmark vertices under a fit's coefficients and camera, in pixels."""
    pts = model.landmarks(fit.alpha, fit.beta)
    return project(transform(pts, fit.rotation, fit.translation), fit.focal, fit.center)


def photo_angles(crop_angles_deg: np.ndarray, crop_roll: np.ndarray) -> np.ndarray:
    """R-Net's (yaw, pitch, roll) in degrees, seen in crops turned by ``-crop_roll`` about the
    principal point, as angles of the photo's camera (the turn is a roll of the camera).
    Rows without a turn are returned as they are."""
    turned = np.flatnonzero(crop_roll)
    if not len(turned):
        return crop_angles_deg
    a = torch.as_tensor(np.deg2rad(crop_angles_deg[turned]), dtype=torch.float64)
    r_crop = euler_to_matrix(a[:, 0], a[:, 1], a[:, 2])
    c, s = (torch.as_tensor(f(-crop_roll[turned]), dtype=torch.float64) for f in (np.cos, np.sin))
    turn = torch.zeros(len(turned), 3, 3, dtype=torch.float64)  # photo -> crop pixels (x right, y down)
    turn[:, 0, 0], turn[:, 0, 1], turn[:, 1, 0], turn[:, 1, 1], turn[:, 2, 2] = c, -s, s, c, 1.0
    yaw, pitch, roll = matrix_to_euler(turn.transpose(1, 2) @ r_crop)
    out = crop_angles_deg.copy()
    out[turned] = np.rad2deg(torch.stack([yaw, pitch, roll], 1).numpy())
    return out
