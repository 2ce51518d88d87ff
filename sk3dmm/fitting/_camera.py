"""Rotations and the pinhole camera shared by fitting and rendering.

Conventions: the model has +y up and looks along +z. The camera is OpenCV-style (x right,
y down, z forward), so a frontal face has rotation ``FLIP = diag(1, -1, -1)``. Pose angles are
intrinsic model-space Euler angles (yaw about y, pitch about x, roll about z), in radians here
and in degrees in the public coefficient block. Positive yaw turns the face towards its own
left (the image's right).
"""

from __future__ import annotations

import torch

FLIP_DIAG = (1.0, -1.0, -1.0)


def euler_to_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Model-to-camera rotation ``FLIP @ Ry(yaw) @ Rx(pitch) @ Rz(roll)``, shape (..., 3, 3)."""
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cp, sp = torch.cos(pitch), torch.sin(pitch)
    cr, sr = torch.cos(roll), torch.sin(roll)
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*yaw.shape, 3, 3)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(*yaw.shape, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(*yaw.shape, 3, 3)
    flip = torch.tensor(FLIP_DIAG, dtype=yaw.dtype, device=yaw.device)
    return flip[:, None] * (ry @ rx @ rz)


def matrix_to_euler(rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inverse of :func:`euler_to_matrix`: (yaw, pitch, roll) in radians."""
    flip = torch.tensor(FLIP_DIAG, dtype=rotation.dtype, device=rotation.device)
    m = flip[:, None] * rotation  # Ry @ Rx @ Rz
    pitch = torch.asin((-m[..., 1, 2]).clamp(-1.0, 1.0))
    yaw = torch.atan2(m[..., 0, 2], m[..., 2, 2])
    roll = torch.atan2(m[..., 1, 0], m[..., 1, 1])
    return yaw, pitch, roll


def axis_angle_to_matrix(omega: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, batched: (..., 3) rotation vectors to (..., 3, 3) matrices."""
    theta = torch.linalg.vector_norm(omega, dim=-1, keepdim=True).clamp_min(1e-12)
    k = omega / theta
    kx, ky, kz = k.unbind(-1)
    zero = torch.zeros_like(kx)
    kmat = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).unflatten(-1, (3, 3))
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device).expand_as(kmat)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return eye + s * kmat + (1 - c) * (kmat @ kmat)


def project(points: torch.Tensor, focal: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """Pinhole projection of camera-space points (..., n, 3) to pixels (..., n, 2).

    ``focal`` has shape (...,) and ``center`` (..., 2), both in pixels.
    """
    z = points[..., 2:].clamp_min(1e-6)
    return focal[..., None, None] * points[..., :2] / z + center[..., None, :]


def transform(points: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Model to camera space: ``R @ p + t`` for points (b, n, 3), R (b, 3, 3), t (b, 3)."""
    return points @ rotation.transpose(-1, -2) + translation[..., None, :]
