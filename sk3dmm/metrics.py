"""Reconstruction error measures: similarity alignment, millimetre errors, and head angles in
the order head-pose benchmarks use."""

from __future__ import annotations

import numpy as np


def similarity_align(source: np.ndarray, target: np.ndarray, scale: bool = True) -> np.ndarray:
    """Align point sets ``source`` onto ``target`` by a similarity (Umeyama), batched.

    Parameters
    ----------
    source, target : (..., n, 3)
    scale : bool, default=True
        Allow a uniform scale (False: rigid alignment).

    Returns
    -------
    (..., n, 3) aligned copy of ``source``.
    """
    src = np.asarray(source, dtype=np.float64)
    tgt = np.asarray(target, dtype=np.float64)
    mu_s, mu_t = src.mean(-2, keepdims=True), tgt.mean(-2, keepdims=True)
    s0, t0 = src - mu_s, tgt - mu_t
    cov = np.swapaxes(t0, -1, -2) @ s0 / src.shape[-2]
    u, d, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(d)
    fix[..., -1] = sign
    rot = u @ (fix[..., :, None] * vt)
    var = (s0**2).sum((-1, -2)) / src.shape[-2]
    c = ((d * fix).sum(-1) / var) if scale else np.ones(var.shape)
    return c[..., None, None] * s0 @ np.swapaxes(rot, -1, -2) + mu_t


def _aligned(predicted, true, align: str | None) -> np.ndarray:
    if align == "similarity":
        return similarity_align(predicted, true)
    if align == "rigid":
        return similarity_align(predicted, true, scale=False)
    if align is None:
        return np.asarray(predicted)
    raise ValueError(f"align must be 'similarity', 'rigid' or None, got {align!r}")


def point_error_mm(
    predicted: np.ndarray, true: np.ndarray, unit_mm: float, align: str | None = "similarity"
) -> np.ndarray:
    """Mean per-point distance in millimetres after alignment, one value per sample.

    Parameters
    ----------
    predicted, true : (n_samples, n_points, 3) in model units
    unit_mm : float
        Millimetres per model unit (``MorphableModel.unit_mm``).
    align : {"similarity", "rigid", None}
    """
    predicted = _aligned(predicted, true, align)
    return np.linalg.norm(predicted - np.asarray(true), axis=-1).mean(-1) * unit_mm


def rmse_mm(predicted: np.ndarray, true: np.ndarray, unit_mm: float, align: str | None = "similarity"):
    """Root-mean-square point distance in millimetres after alignment (the MICC measure)."""
    d2 = ((_aligned(predicted, true, align) - np.asarray(true)) ** 2).sum(-1)
    return np.sqrt(d2.mean(-1)) * unit_mm


FACE_AREA = slice(0, 6706)  # ICT: forehead to chin, ear to ear


def shape_rmse_mm(model, alpha_hat, beta_hat, alpha, beta, region=FACE_AREA) -> np.ndarray:
    """Per-sample RMSE (mm) between the faces of two coefficient sets, after similarity
    alignment over ``region`` (vertex indices or a slice): Deng et al.'s MICC measure.

    Pass zero ``beta`` on both sides for the identity (neutral) shape.
    """
    import torch

    def verts(a, b):
        return model.vertices(
            torch.as_tensor(np.asarray(a)).double(), torch.as_tensor(np.asarray(b)).double()
        )[:, region]

    return rmse_mm(verts(alpha_hat, beta_hat).numpy(), verts(alpha, beta).numpy(), model.unit_mm)


def pitch_yaw_roll(pose) -> np.ndarray:
    """sk3dmm's head angles as AFLW2000-3D's ``Pose_Para`` gives a head's.

    sk3dmm's ``pose`` is (yaw, pitch, roll) of ``R = Ry(yaw) Rx(pitch) Rz(roll)``, the roll
    turned first (:func:`sk3dmm.fitting.euler_to_matrix`); 3DDFA's angles, which AFLW2000-3D
    and the head-pose papers that report on it use, are (pitch, yaw, roll) of the same
    rotation written ``Rx Ry Rz``, the pitch turned last, each with the opposite sign. The two
    orders agree within a degree or two near the frontal view and differ by tens of degrees
    beyond 60 degrees of yaw, so angles are compared in one order.

    Parameters
    ----------
    pose : (n, >=3) yaw, pitch, roll in degrees (e.g. the ``pose`` block)

    Returns
    -------
    (n, 3) pitch, yaw, roll in degrees, in 3DDFA's order and signs
    """
    import torch

    from .fitting import euler_to_matrix
    from .fitting._camera import FLIP_DIAG

    angles = torch.deg2rad(torch.as_tensor(np.asarray(pose, dtype=np.float64)[:, :3])).T
    r = np.asarray(FLIP_DIAG)[:, None] * euler_to_matrix(*angles).numpy()  # Ry Rx Rz = Rx(a) Ry(b) Rz(c)
    b = np.arcsin(np.clip(r[:, 0, 2], -1.0, 1.0))
    a = np.arctan2(-r[:, 1, 2], r[:, 2, 2])
    c = np.arctan2(-r[:, 0, 1], r[:, 0, 0])
    return -np.rad2deg(np.stack([a, b, c], 1))
