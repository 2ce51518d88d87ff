"""Camera pose from 2-D/3-D correspondences: affine initialisation, then Gauss-Newton."""

from __future__ import annotations

import math

import torch

from ._camera import axis_angle_to_matrix, project, transform
from ._script import scripted


def estimate_pose_affine(
    points2d: torch.Tensor, points3d: torch.Tensor, focal: torch.Tensor, center: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form scaled-orthographic pose, turned into a perspective (R, t).

    Solves ``x ~ A @ X + b`` by least squares, orthonormalises the two rows of ``A`` by SVD
    (the Gold Standard Algorithm of Hartley & Zisserman, as eos does), and sets the depth so
    that the scale matches: ``t_z = focal / s``.

    Parameters
    ----------
    points2d : (b, n, 2) pixels
    points3d : (b, n, 3) model space
    focal : (b,) pixels
    center : (b, 2) pixels

    Returns
    -------
    rotation (b, 3, 3) and translation (b, 3), model to camera.
    """
    b, n, _ = points3d.shape
    x3 = points3d - points3d.mean(1, keepdim=True)
    x2 = points2d - points2d.mean(1, keepdim=True)
    # A^T = pinv(X) @ x  -> (b, 3, 2). Not torch's CPU default driver: gelsy reads uninitialised
    # pivot memory (pytorch issues 71222, 92537), so its answer depends on the batch and the run.
    a_t = torch.linalg.lstsq(x3, x2, driver="gelsd" if x3.device.type == "cpu" else "gels").solution
    a = a_t.transpose(1, 2)  # (b, 2, 3)
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    r12 = u @ vh  # nearest matrix with orthonormal rows
    r3 = torch.linalg.cross(r12[:, 0], r12[:, 1], dim=-1)
    rotation = torch.cat([r12, r3[:, None]], 1)
    scale = s.mean(-1)
    tz = focal / scale
    # centroid of the model maps to the centroid of the image points
    c3 = points3d.mean(1)
    c2 = points2d.mean(1)
    rc = (rotation @ c3[..., None])[..., 0]
    txy = (c2 - center) * tz[:, None] / focal[:, None] - rc[:, :2]
    translation = torch.cat([txy, (tz - rc[:, 2])[:, None]], -1)
    return rotation, translation


def refine_pose(
    points2d: torch.Tensor,
    points3d: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    focal: torch.Tensor,
    center: torch.Tensor,
    weights: torch.Tensor | None = None,
    n_iter: int = 5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Levenberg-Marquardt refinement of a perspective pose on the reprojection error.

    Rotation updates are left-multiplicative (``R <- exp([w]x) R``); all faces in the batch
    are solved together as (b, 6, 6) systems. A step is kept only where it lowers the cost
    and leaves every point in front of the camera; elsewhere the damping grows, so degenerate
    inputs cannot make the pose diverge. ``weights`` (b, n) weight each point. The steps run
    as one TorchScript function (a third faster than op by op, the same bits).
    """
    w = (
        torch.ones(points3d.shape[:2], dtype=points3d.dtype, device=points3d.device)
        if weights is None
        else weights
    )
    return scripted(_levenberg_marquardt)(points2d, points3d, rotation, translation, focal, center, w, n_iter)


def _levenberg_marquardt(
    points2d: torch.Tensor,
    points3d: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    focal: torch.Tensor,
    center: torch.Tensor,
    w: torch.Tensor,
    n_iter: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    b = points3d.shape[0]
    eye = torch.eye(6, dtype=points3d.dtype, device=points3d.device)
    damping = torch.full((b,), 1e-4, dtype=points3d.dtype, device=points3d.device)
    w2 = w.repeat_interleave(2, dim=1)[..., None]
    cost, pc, r = _cost(points2d, points3d, rotation, translation, focal, center, w)
    for _ in range(n_iter):
        jac = _reprojection_jacobian(pc, translation, focal)
        jw = jac * w2
        h = jw.transpose(1, 2) @ jac
        g = jw.transpose(1, 2) @ r.reshape(b, -1, 1)
        scale = h.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-12)
        delta = -torch.linalg.solve(h + (damping * scale)[:, None, None] * eye, g)[..., 0]
        delta = torch.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0)
        new_rot = axis_angle_to_matrix(delta[:, :3]) @ rotation
        new_trans = translation + delta[:, 3:]
        new_cost, new_pc, new_r = _cost(points2d, points3d, new_rot, new_trans, focal, center, w)
        better = new_cost < cost
        rotation = torch.where(better[:, None, None], new_rot, rotation)
        translation = torch.where(better[:, None], new_trans, translation)
        cost = torch.where(better, new_cost, cost)
        pc = torch.where(better[:, None, None], new_pc, pc)
        r = torch.where(better[:, None, None], new_r, r)
        damping = torch.where(better, damping * 0.1, damping * 10).clamp(1e-8, 1e8)
    return rotation, translation


def _cost(
    points2d: torch.Tensor,
    points3d: torch.Tensor,
    rot: torch.Tensor,
    trans: torch.Tensor,
    focal: torch.Tensor,
    center: torch.Tensor,
    w: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted squared reprojection error (inf where a point is behind the camera or the cost
    is not finite), the camera-space points and the residuals."""
    pc = transform(points3d, rot, trans)
    r = project(pc, focal, center) - points2d
    ok = (pc[..., 2] > 1e-6).all(1)
    cost = (r.square().sum(-1) * w).sum(1)
    return torch.where(ok & torch.isfinite(cost), cost, torch.full_like(cost, math.inf)), pc, r


def _reprojection_jacobian(pc: torch.Tensor, translation: torch.Tensor, focal: torch.Tensor) -> torch.Tensor:
    """Jacobian (b, 2n, 6) of the projected points in camera space ``pc`` (b, n, 3) with respect
    to a left-multiplicative rotation update and a translation update.

    ``d(u, v) / d(omega) = -(d proj / d pc) [R p]x`` and ``d(u, v) / dt = d proj / d pc``, written
    out: with ``R p = (a, b, c)`` and ``pc = (x, y, z)``, the u row is
    ``f / z (-b x/z, c + a x/z, -b, 1, 0, -x/z)`` and the v row ``f / z (-c - b y/z, a y/z, a, 0, 1, -y/z)``
    (a fifth as many operations as the chain-rule product)."""
    a, b, c = (pc - translation[:, None]).unbind(-1)
    z = pc[..., 2].clamp_min(1e-6)
    xz, yz = pc[..., 0] / z, pc[..., 1] / z
    one, zero = torch.ones_like(z), torch.zeros_like(z)
    rows = [-b * xz, c + a * xz, -b, one, zero, -xz, -c - b * yz, a * yz, a, zero, one, -yz]
    return (torch.stack(rows, -1) * (focal[:, None] / z)[..., None]).reshape(len(pc), -1, 6)
