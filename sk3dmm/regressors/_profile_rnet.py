"""Faces whose mesh is unusable (found by RetinaFace, the mesh network saying "no face": mostly
beyond 60 degrees of yaw) regressed by the profile R-Net from the crop on RetinaFace's five
keypoints, where the network sees a profile (at least ``PROFILE_YAW`` degrees of yaw, beyond
what the mesh network was made for); the camera's position solved from those keypoints with the
network's rotation and shape held. Every other face keeps the coefficients the method gave it,
as does one whose solved camera would put the face behind it."""

from __future__ import annotations

import numpy as np
import torch

from ..faces import five_points, unusable_mesh
from ..fitting import default_focal, euler_to_matrix, project
from ..pipeline._records import Coefficients
from ._rnet import predict
from ._settings import RegressionSettings

PROFILE_YAW = 60.0  # degrees of the network's own yaw from which its row replaces the fit's


class ProfileRNetRegressor:
    """The profile R-Net for faces with an unusable mesh; the previous coefficients for the rest.
    Not a registered regressor: ``Reconstruct3DMM(profiles="network")`` (the default) appends it
    to every method whose crop is the embedded R-Net's."""

    name = "the profile R-Net"
    reads_crops = False  # only those of faces with an unusable mesh, which the crop stage samples

    def __init__(self, settings: RegressionSettings):
        from ..nets import load_profile_rnet

        self.settings = settings
        self.bundle = load_profile_rnet(settings.model)
        self.key = f"profile-rnet|{self.bundle.source}|{settings.model.fingerprint}|{settings.device.type}"

    def __call__(self, items: list[tuple]) -> list[Coefficients]:
        rows = [previous for _, _, previous in items]
        todo = [j for j, (detection, _, _) in enumerate(items) if unusable_mesh(detection.found)]
        if not todo:
            return rows
        settings, model = self.settings, self.settings.model
        out, features = predict(self.bundle, np.stack([items[j][1].pixels for j in todo]), settings)
        alpha, beta = (torch.as_tensor(out[b], dtype=torch.float64) for b in ("id", "exp"))
        angles = torch.rad2deg(torch.as_tensor(out["angle"], dtype=torch.float64))  # the crop is not turned
        rotation = euler_to_matrix(*torch.deg2rad(angles).T)
        points = model.landmarks(alpha, beta) @ rotation.transpose(-1, -2)  # camera axes, at the origin
        for n, j in enumerate(todo):
            if abs(float(angles[n, 0])) < PROFILE_YAW:
                continue  # not a profile to the network: the fit to the mesh stays
            detection, crop, _ = items[j]
            size = np.asarray(detection.image_size, dtype=np.float64)
            focal, center = float(default_focal(size)[0]), size / 2
            if settings.focal_length is not None:
                focal = float(settings.focal_length)
            keypoints = np.asarray(detection.face.keypoints, dtype=np.float64)
            shift = _translation(five_points(points[n].numpy()), keypoints, focal, center)
            if not np.isfinite(shift).all() or (points[n][:, 2].numpy() + shift[2]).min() <= 0:
                continue  # the keypoints do not place this head in front of the camera
            fitted = project(
                points[n] + torch.as_tensor(shift),
                torch.tensor(focal, dtype=torch.float64),
                torch.tensor(center),
            ).numpy()
            rows[j] = Coefficients(
                alpha=alpha[n].numpy().astype(np.float32),
                beta=beta[n].numpy().astype(np.float32),
                pose=np.r_[angles[n].numpy(), shift * model.unit_mm].astype(np.float32),
                angles=angles[n].numpy(),
                features=features[n],
                focal=focal,
                center=center,
                rotation=rotation[n].numpy(),
                translation=shift,
                fitted_landmarks=fitted,
                reprojection_error=float(np.linalg.norm(five_points(fitted) - keypoints, axis=1).mean()),
                row_from="profile_rnet",
            )
        return rows


def _translation(points5: np.ndarray, keypoints: np.ndarray, focal: float, center: np.ndarray) -> np.ndarray:
    """The translation ``t`` (3,) that projects the rotated points (5, 3) nearest to the five
    keypoints (5, 2) through the pinhole camera: ``f (p + t)_xy / (p + t)_z + c = k`` is linear in
    ``t`` once multiplied out (least squares, numpy's SVD-based solver)."""
    d = keypoints - center  # (5, 2)
    rows = np.zeros((10, 3))
    rows[0::2, 0], rows[1::2, 1] = focal, focal
    rows[:, 2] = -d.reshape(-1)
    rhs = (d * points5[:, 2:3] - focal * points5[:, :2]).reshape(-1)
    return np.linalg.lstsq(rows, rhs, rcond=None)[0]
