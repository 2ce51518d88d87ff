"""``fit_shape_and_pose``: alternate pose, contour correspondence and linear shape fits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..morphable import MorphableModel
from ._camera import matrix_to_euler, project, transform
from ._contour import LEFT_CONTOUR, RIGHT_CONTOUR, nearest_contour_vertices
from ._pose import estimate_pose_affine, refine_pose
from ._shape import linear_shape_system, solve_box_qp


@dataclass
class LandmarkFit:
    """Result of :func:`fit_shape_and_pose` for a batch of faces (all tensors, batch first).

    Attributes
    ----------
    alpha, beta : (b, n_identity), (b, n_expression)
    rotation, translation : (b, 3, 3), (b, 3) model to camera, translation in model units
    yaw, pitch, roll : (b,) radians
    focal, center : (b,), (b, 2) the camera used
    landmarks2d : (b, k, 2) fitted landmarks projected to the image (k = 68 by default)
    vertex_ids : (b, k) model vertex each image landmark was matched to
    reprojection_error : (b,) mean landmark distance in pixels
    """

    alpha: torch.Tensor
    beta: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    yaw: torch.Tensor
    pitch: torch.Tensor
    roll: torch.Tensor
    focal: torch.Tensor
    center: torch.Tensor
    landmarks2d: torch.Tensor
    vertex_ids: torch.Tensor
    reprojection_error: torch.Tensor


MAX_POINTS_PER_CHUNK = 68 * 512  # faces x points fitted at once (about 0.5 GB in float64 at 153 coefficients)


def _fit_in_chunks(
    model, landmarks, focal, center, chunk: int, *, weights, fixed_shape, prior_shape, **kwargs
) -> LandmarkFit:
    """:func:`fit_shape_and_pose` over consecutive chunks of faces, results concatenated."""
    landmarks = np.asarray(landmarks)
    n = len(landmarks)
    f = np.asarray(focal, dtype=np.float64)
    c = np.asarray(center, dtype=np.float64)
    w = None if weights is None else np.asarray(weights)
    fits = []
    for s in range(0, n, chunk):
        sl = slice(s, min(n, s + chunk))
        fits.append(
            fit_shape_and_pose(
                model,
                landmarks[sl],
                f[sl] if f.ndim == 1 else f,
                c[sl] if c.ndim == 2 else c,
                weights=None if w is None else (w[sl] if w.ndim == 2 else w),
                fixed_shape=None if fixed_shape is None else tuple(np.asarray(v)[sl] for v in fixed_shape),
                prior_shape=None if prior_shape is None else tuple(np.asarray(v)[sl] for v in prior_shape),
                **kwargs,
            )
        )
    return LandmarkFit(
        **{k: torch.cat([getattr(f, k) for f in fits]) for k in LandmarkFit.__dataclass_fields__}
    )


def _pose_in_float64(step, *args, **kwargs) -> tuple[torch.Tensor, ...]:
    """Run a pose step in float64 and return its tensors in the inputs' precision.

    The pose systems are 6 x 6 and cheap; in float32 their round-off flips the step
    acceptance of Levenberg-Marquardt between batches, which moved a float32 row by up to
    1.5e-3 degrees (R-Net pose) and 4e-4 in ``alpha`` (``rnet_refined``) with its neighbours.
    """
    dtype = args[0].dtype

    def up(v):
        return v.double() if isinstance(v, torch.Tensor) else v

    out = step(*map(up, args), **{k: up(v) for k, v in kwargs.items()})
    return tuple(v.to(dtype) for v in out)


def default_focal(image_size: tuple[int, int] | np.ndarray) -> np.ndarray:
    """A typical portrait lens: focal length 1.2 x the longer image side (about 45 degrees)."""
    size = np.asarray(image_size, dtype=np.float64).reshape(-1, 2)
    return 1.2 * size.max(-1)


def fit_shape_and_pose(
    model: MorphableModel,
    landmarks: torch.Tensor | np.ndarray,
    focal: torch.Tensor | np.ndarray | float,
    center: torch.Tensor | np.ndarray,
    *,
    n_iter: int = 4,
    identity_reg: float = 3e-2,
    expression_reg: float = 1e-2,
    contour: bool = True,
    weights: torch.Tensor | np.ndarray | None = None,
    fixed_shape: tuple[np.ndarray, np.ndarray] | None = None,
    prior_shape: tuple[np.ndarray, np.ndarray] | None = None,
    landmark_vertices: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LandmarkFit:
    """Fit pose, identity and expression of a batch of faces to their image landmarks.

    By default the landmarks are the 68 iBUG points on the model's 68 landmark vertices;
    ``landmark_vertices`` fits any other set of points with known vertices instead (e.g. the
    468 points of MediaPipe's face mesh, see :func:`sk3dmm.morphable.mediapipe_correspondence`).

    Each iteration re-matches the jaw contour to the current pose, solves identity and
    expression jointly as one linear least-squares problem (Gaussian prior on ``alpha``;
    box bounds for blendshape models, a Gaussian prior for PCA expression bases), then refines
    the perspective pose by Gauss-Newton. Residuals are divided by the face's landmark spread,
    so the regularisation weights do not depend on image resolution.

    Parameters
    ----------
    model : MorphableModel
    landmarks : (b, 68, 2) pixels, dlib order, or (b, k, 2) for ``landmark_vertices`` of length k
    focal : float or (b,) focal length in pixels
    center : (2,) or (b, 2) principal point in pixels
    n_iter : int, default=4
        Outer iterations (pose, contour and shape).
    identity_reg, expression_reg : float
        Weight of ``||alpha||^2`` and ``||beta||^2`` against the normalised landmark residual.
    contour : bool, default=True
        Re-match jaw contour landmarks 0-7 and 9-16 to the model's jaw line each iteration.
    weights : (k,) or (b, k), optional
        Per-landmark weights (e.g. detector confidences).
    fixed_shape : (alpha, beta), optional
        Keep these coefficients (e.g. from R-Net) and fit the pose (and contour) only.
    prior_shape : (alpha, beta), optional
        Centre the priors on these coefficients instead of zero (e.g. R-Net's: the landmarks
        then refine R-Net's shape rather than replace it); also the starting shape.
    landmark_vertices : (k,) int, optional
        The model vertex of each landmark (then there is no contour re-matching: each point
        keeps its vertex, down-weight sliding points with ``weights``).
    device, dtype
        Where and in what precision to compute.

    Returns
    -------
    LandmarkFit
    """
    n_pts = 68 if landmark_vertices is None else len(landmark_vertices)
    n_faces = len(landmarks)
    chunk = max(1, MAX_POINTS_PER_CHUNK // n_pts)
    if n_faces > chunk:  # bounded memory: the linear systems grow with faces x points
        return _fit_in_chunks(
            model, landmarks, focal, center, chunk,
            n_iter=n_iter, identity_reg=identity_reg, expression_reg=expression_reg, contour=contour,
            weights=weights, fixed_shape=fixed_shape, prior_shape=prior_shape,
            landmark_vertices=landmark_vertices, device=device,
            dtype=dtype,
        )  # fmt: skip
    x2d = torch.as_tensor(np.asarray(landmarks), dtype=dtype, device=device)
    if x2d.ndim != 3 or x2d.shape[1:] != (n_pts, 2):
        raise ValueError(f"landmarks must have shape (n, {n_pts}, 2), got {tuple(x2d.shape)}")
    if not torch.isfinite(x2d).all():
        raise ValueError("landmarks contain NaN or infinite values")
    b = len(x2d)
    focal_t = torch.as_tensor(np.asarray(focal, dtype=np.float64), dtype=dtype, device=device).expand(b)
    center_t = torch.as_tensor(np.asarray(center, dtype=np.float64), dtype=dtype, device=device).expand(b, 2)
    w = None
    if weights is not None:
        w = torch.as_tensor(np.asarray(weights), dtype=dtype, device=device).expand(b, n_pts)

    # Only the vertices landmarks can touch: the 68 plus the jaw candidates.
    if landmark_vertices is None:
        lm_ids = torch.as_tensor(model.landmark_indices, device=device)
    else:
        lm_ids = torch.as_tensor(np.asarray(landmark_vertices, dtype=np.int64), device=device)
        contour = False
    cand = model.contour_candidates if contour else None
    extra = [torch.as_tensor(cand[s], device=device) for s in ("right", "left")] if cand else []
    sub_ids, inverse = torch.unique(torch.cat([lm_ids, *extra]), return_inverse=True)
    t = model.tensors(device, dtype)
    sub_mean = t["mean"][sub_ids]  # (m, 3)
    sub_basis = torch.cat([t["identity"][:, sub_ids], t["expression"][:, sub_ids]], 0).permute(1, 2, 0)
    n_id, n_exp = model.n_identity, model.n_expression
    k = n_id + n_exp
    rows = inverse[:n_pts].expand(b, n_pts).clone()  # row in the subset for each landmark

    reg = torch.cat(
        [torch.full((n_id,), identity_reg, dtype=dtype), torch.full((n_exp,), expression_reg, dtype=dtype)]
    ).to(device)
    lower = torch.full((k,), -torch.inf, dtype=dtype, device=device)
    upper = torch.full((k,), torch.inf, dtype=dtype, device=device)
    if model.expression_bounds is not None:
        lower[n_id:], upper[n_id:] = model.expression_bounds
    coef = torch.zeros(b, k, dtype=dtype, device=device)
    if model.expression_bounds is not None:
        lo, hi = model.expression_bounds
        coef[:, n_id:] = min(max(0.0, lo), hi)
    if fixed_shape is not None:
        fa, fb = (torch.as_tensor(np.asarray(c), dtype=dtype, device=device) for c in fixed_shape)
        coef = torch.cat([fa, fb], 1)
    prior = torch.zeros(b, k, dtype=dtype, device=device)
    if prior_shape is not None:
        pa, pb = (torch.as_tensor(np.asarray(c), dtype=dtype, device=device) for c in prior_shape)
        prior = torch.cat([pa, pb], 1).clamp(lower, upper)
        coef = prior.clone()

    spread = (x2d - x2d.mean(1, keepdim=True)).square().sum(-1).mean(1).sqrt()  # (b,)

    def all_shape() -> torch.Tensor:  # (b, m, 3) subset vertices under the current coefficients
        return sub_mean + torch.einsum("mdk,bk->bmd", sub_basis, coef)

    batch_idx = torch.arange(b, device=device)[:, None]
    inner = (
        slice(17, 68) if landmark_vertices is None else slice(None)
    )  # the jaw slides: not for the first pose
    rot, trans = _pose_in_float64(
        estimate_pose_affine, x2d[:, inner], all_shape()[batch_idx, rows[:, inner]], focal_t, center_t
    )
    rot, trans = _pose_in_float64(
        refine_pose, x2d[:, inner], all_shape()[batch_idx, rows[:, inner]], rot, trans, focal_t, center_t
    )

    contour_sets = []
    if cand:
        for side, lms in (("right", RIGHT_CONTOUR), ("left", LEFT_CONTOUR)):
            ids = torch.cat([lm_ids[list(lms)], torch.as_tensor(cand[side], device=device)])
            contour_sets.append((list(lms), torch.searchsorted(sub_ids, torch.unique(ids))))

    for _ in range(n_iter):
        shape = all_shape()
        if contour_sets:
            for lms, cand_rows in contour_sets:
                proj = project(transform(shape[:, cand_rows], rot, trans), focal_t, center_t)
                rows[:, lms] = nearest_contour_vertices(x2d[:, lms], proj, cand_rows)
        if fixed_shape is not None:
            rot, trans = _pose_in_float64(
                refine_pose, x2d, shape[batch_idx, rows], rot, trans, focal_t, center_t, weights=w, n_iter=3
            )
            continue
        pts = shape[batch_idx, rows]
        depth = transform(pts, rot, trans)[..., 2]
        m, r = linear_shape_system(x2d, sub_mean[rows], sub_basis[rows], rot, trans, focal_t, center_t, depth)
        m = m / spread[:, None, None]
        r = r / spread[:, None]
        mw = m * w.repeat_interleave(2, 1)[..., None] if w is not None else m
        hess = mw.transpose(1, 2) @ m + torch.diag(reg)
        grad = (mw.transpose(1, 2) @ r[..., None])[..., 0] + reg * prior
        coef = solve_box_qp(hess, grad, lower, upper)
        pts = all_shape()[batch_idx, rows]
        rot, trans = _pose_in_float64(
            refine_pose, x2d, pts, rot, trans, focal_t, center_t, weights=w, n_iter=3
        )

    pts = all_shape()[batch_idx, rows]
    fitted2d = project(transform(pts, rot, trans), focal_t, center_t)
    yaw, pitch, roll = matrix_to_euler(rot)
    return LandmarkFit(
        alpha=coef[:, :n_id],
        beta=coef[:, n_id:],
        rotation=rot,
        translation=trans,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        focal=focal_t,
        center=center_t,
        landmarks2d=fitted2d,
        vertex_ids=sub_ids[rows],
        reprojection_error=(fitted2d - x2d).norm(dim=-1).mean(1),
    )


def fit_to_blocks(fit: LandmarkFit, model: MorphableModel) -> dict[str, np.ndarray]:
    """Every block of a batch fit as float32 numpy arrays; angles in degrees, translation in mm."""
    pose = np.concatenate(
        [
            np.rad2deg(np.stack([fit.yaw.cpu().numpy(), fit.pitch.cpu().numpy(), fit.roll.cpu().numpy()], 1)),
            fit.translation.cpu().numpy() * model.unit_mm,
        ],
        1,
    )
    return {
        "alpha": fit.alpha.cpu().numpy().astype(np.float32),
        "beta": fit.beta.cpu().numpy().astype(np.float32),
        "pose": pose.astype(np.float32),
    }
