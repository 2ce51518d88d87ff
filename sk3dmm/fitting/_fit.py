"""``fit_shape_and_pose``: an initial pose, then contour correspondence and joint Gauss-Newton
steps of pose and shape."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..morphable import MorphableModel
from ._camera import axis_angle_to_matrix, matrix_to_euler, project, transform
from ._contour import LEFT_CONTOUR, RIGHT_CONTOUR, nearest_contour_vertices
from ._pose import _reprojection_jacobian, estimate_pose_affine, refine_pose
from ._shape import box_partition, linear_shape_system, solve_box_qp


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

_Pose = tuple[torch.Tensor, torch.Tensor]  # rotation (b, 3, 3), translation (b, 3)


@dataclass(frozen=True)
class _FitOptions:
    """The settings of :func:`fit_shape_and_pose` shared by every face."""

    n_iter: int
    identity_reg: float
    expression_reg: float
    contour: bool
    landmark_vertices: np.ndarray | None
    device: str | torch.device
    dtype: torch.dtype

    @property
    def n_points(self) -> int:
        """Landmarks per face."""
        return 68 if self.landmark_vertices is None else len(self.landmark_vertices)


@dataclass(frozen=True)
class _FaceInputs:
    """The per-face inputs of :func:`fit_shape_and_pose`, as given."""

    landmarks: torch.Tensor | np.ndarray
    focal: torch.Tensor | np.ndarray | float
    center: torch.Tensor | np.ndarray
    weights: torch.Tensor | np.ndarray | None
    fixed_shape: tuple[np.ndarray, np.ndarray] | None
    prior_shape: tuple[np.ndarray, np.ndarray] | None
    fixed_expression: np.ndarray | None = None


def _fit_in_chunks(
    model: MorphableModel, faces: _FaceInputs, options: _FitOptions, chunk: int
) -> LandmarkFit:
    """:func:`fit_shape_and_pose` over consecutive chunks of faces, results concatenated."""
    landmarks = np.asarray(faces.landmarks)
    n = len(landmarks)
    f = np.asarray(faces.focal, dtype=np.float64)
    c = np.asarray(faces.center, dtype=np.float64)
    w = None if faces.weights is None else np.asarray(faces.weights)
    fits = []
    for s in range(0, n, chunk):
        sl = slice(s, min(n, s + chunk))
        part = _FaceInputs(
            landmarks=landmarks[sl],
            focal=f[sl] if f.ndim == 1 else f,
            center=c[sl] if c.ndim == 2 else c,
            weights=None if w is None else (w[sl] if w.ndim == 2 else w),
            fixed_shape=_sliced(faces.fixed_shape, sl),
            prior_shape=_sliced(faces.prior_shape, sl),
            fixed_expression=None if faces.fixed_expression is None else np.asarray(faces.fixed_expression)[sl],
        )
        fits.append(_fit_batch(model, part, options))
    return LandmarkFit(
        **{k: torch.cat([getattr(f, k) for f in fits]) for k in LandmarkFit.__dataclass_fields__}
    )


def _sliced(shape: tuple[np.ndarray, np.ndarray] | None, sl: slice) -> tuple[np.ndarray, ...] | None:
    """The faces ``sl`` of an ``(alpha, beta)`` pair, or None."""
    return None if shape is None else tuple(np.asarray(v)[sl] for v in shape)


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
    n_iter: int = 3,
    identity_reg: float = 3e-2,
    expression_reg: float = 1e-2,
    contour: bool = True,
    weights: torch.Tensor | np.ndarray | None = None,
    fixed_shape: tuple[np.ndarray, np.ndarray] | None = None,
    prior_shape: tuple[np.ndarray, np.ndarray] | None = None,
    fixed_expression: np.ndarray | None = None,
    landmark_vertices: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LandmarkFit:
    """Fit pose, identity and expression of a batch of faces to their image landmarks.

    By default the landmarks are the 68 iBUG points on the model's 68 landmark vertices;
    ``landmark_vertices`` fits any other set of points with known vertices instead (e.g. the
    468 points of MediaPipe's face mesh, see :func:`sk3dmm.morphable.mediapipe_correspondence`).

    After an affine pose on the inner points (then, for the 68 points, Levenberg-Marquardt
    steps), each iteration re-matches the jaw contour to the current pose, then takes one
    damped Gauss-Newton step of the perspective pose, identity and expression together on the
    weighted reprojection error plus the priors (Gaussian on ``alpha`` and ``beta``; box bounds
    for blendshape models), kept where it lowers that cost. With 200 points or more on fixed
    vertices the first step takes every third point (``FIRST_STEP_POINTS``). Residuals are divided by the face's landmark
    spread, so the regularisation weights do not depend on image resolution. (Until 0.8 the
    iterations alternated a linear shape solve and pose steps, which converge slowly: see
    ``tools/fit_convergence.py``.)

    Parameters
    ----------
    model : MorphableModel
    landmarks : (b, 68, 2) pixels, dlib order, or (b, k, 2) for ``landmark_vertices`` of length k
    focal : float or (b,) focal length in pixels
    center : (2,) or (b, 2) principal point in pixels
    n_iter : int, default=3
        Iterations of contour matching and the joint pose and shape step.
    identity_reg, expression_reg : float
        Weight of ``||alpha||^2`` and ``||beta||^2`` against the normalised landmark residual.
    contour : bool, default=True
        Re-match jaw contour landmarks 0-7 and 9-16 to the model's jaw line each iteration.
    weights : (k,) or (b, k), optional
        Per-landmark weights, finite and non-negative (e.g. detector confidences).
    fixed_shape : (alpha, beta), optional
        Keep these coefficients (e.g. from R-Net) and fit the pose (and contour) only.
    prior_shape : (alpha, beta), optional
        Centre the priors on these coefficients instead of zero (e.g. R-Net's: the landmarks
        then refine R-Net's shape rather than replace it); also the starting shape.
    fixed_expression : (b, n_expression), optional
        Keep these expression coefficients (e.g. MediaPipe's blendshape scores) and fit the
        pose and identity only, identity given that expression.
    landmark_vertices : (k,) int, optional
        The model vertex of each landmark (then there is no contour re-matching: each point
        keeps its vertex, down-weight sliding points with ``weights``).
    device, dtype
        Where and in what precision to compute.

    Returns
    -------
    LandmarkFit
    """
    options = _FitOptions(
        n_iter=n_iter,
        identity_reg=identity_reg,
        expression_reg=expression_reg,
        contour=contour,
        landmark_vertices=landmark_vertices,
        device=device,
        dtype=dtype,
    )
    faces = _FaceInputs(
        landmarks=landmarks,
        focal=focal,
        center=center,
        weights=weights,
        fixed_shape=fixed_shape,
        prior_shape=prior_shape,
        fixed_expression=fixed_expression,
    )
    chunk = max(1, MAX_POINTS_PER_CHUNK // options.n_points)
    # no autograd bookkeeping (an eighth of the time of a face fitted alone); the results are
    # cloned out of inference mode, ordinary tensors for any later use
    with torch.inference_mode():
        if len(landmarks) > chunk:  # bounded memory: the linear systems grow with faces x points
            fit = _fit_in_chunks(model, faces, options, chunk)
        else:
            fit = _fit_batch(model, faces, options)
    return LandmarkFit(**{k: getattr(fit, k).clone() for k in LandmarkFit.__dataclass_fields__})


@dataclass(frozen=True)
class _Observed:
    """The landmarks of a batch of faces and their cameras, as tensors."""

    x2d: torch.Tensor  # (b, k, 2)
    focal: torch.Tensor  # (b,)
    center: torch.Tensor  # (b, 2)
    weights: torch.Tensor | None  # (b, k)
    point_scale: torch.Tensor  # (b, k) each residual's factor: sqrt(weight) / landmark spread
    batch_idx: torch.Tensor  # (b, 1)

    def refine(self, points3d: torch.Tensor, pose: _Pose) -> _Pose:
        """Three weighted Levenberg-Marquardt steps of the pose on all landmarks."""
        rot, trans = pose
        return _pose_in_float64(
            refine_pose,
            self.x2d,
            points3d,
            rot,
            trans,
            self.focal,
            self.center,
            weights=self.weights,
            n_iter=3,
        )


@dataclass(frozen=True)
class _Subset:
    """The model vertices landmarks can touch (the landmark vertices plus the jaw candidates)."""

    ids: torch.Tensor  # (m,) sorted vertex ids
    mean: torch.Tensor  # (m, 3)
    basis: torch.Tensor  # (m, 3, n_identity + n_expression)
    rows: torch.Tensor  # (k,) row of each landmark's starting vertex
    contour_sets: list[tuple[list[int], torch.Tensor]]  # (landmarks, candidate rows) per jaw side
    landmark_basis: torch.Tensor | None = None  # (k, 3, n_coef) basis[rows], where rows never change

    def shape(self, coef: torch.Tensor) -> torch.Tensor:
        """(b, m, 3) subset vertices under the coefficients ``coef`` (b, n_identity + n_expression)."""
        return self.mean + torch.einsum("mdk,bk->bmd", self.basis, coef)


@dataclass(frozen=True)
class _ShapePrior:
    """Weights, centre and box bounds of the coefficients."""

    reg: torch.Tensor  # (k,)
    lower: torch.Tensor  # (k,)
    upper: torch.Tensor  # (k,)
    centre: torch.Tensor  # (b, k)
    held: torch.Tensor | None = None  # (b, n_expression) expression kept as given, or None
    n_identity: int = 0  # the first n_identity coefficients are identity's

    @property
    def n_free(self) -> int:
        """The coefficients the fit solves for: all, or identity's when the expression is held."""
        return len(self.reg) - (0 if self.held is None else self.held.shape[1])

    @functools.cached_property
    def step_bounds(self) -> tuple:
        """Lower, upper and :func:`box_partition` of a joint step's variables (the pose step,
        unbounded, then the free coefficients), made once a fit."""
        inf = torch.full((N_POSE,), torch.inf, dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.cat([-inf, self.lower[: self.n_free]])
        upper = torch.cat([inf, self.upper[: self.n_free]])
        return lower, upper, box_partition(lower, upper)


@dataclass(frozen=True)
class _State:
    """Where a batch fit stands: the pose, the coefficients (b, n_coef), the landmark subset's
    vertices under them (b, m, 3) and the pose's Levenberg-Marquardt damping (b,)."""

    pose: _Pose
    coef: torch.Tensor
    shape: torch.Tensor
    damping: torch.Tensor


def _fit_batch(model: MorphableModel, faces: _FaceInputs, options: _FitOptions) -> LandmarkFit:
    """:func:`fit_shape_and_pose` of faces few enough to fit at once."""
    obs = _observed(faces, options)
    sub = _landmark_subset(model, options)
    prior, coef = _shape_prior(model, faces, options, len(obs.x2d))
    rows = sub.rows.expand(len(obs.x2d), options.n_points).clone()  # row in the subset for each landmark
    shape = sub.shape(coef)
    pose = _initial_pose(obs, shape, rows, options)
    state = _State(pose, coef, shape, torch.full((len(coef),), 1e-4, dtype=coef.dtype, device=coef.device))
    for step in range(options.n_iter):
        _match_contour(obs, sub, state.shape, rows, state.pose)
        if faces.fixed_shape is not None:  # the pose alone
            state = replace(state, pose=obs.refine(state.shape[obs.batch_idx, rows], state.pose))
        elif step == 0 and sub.landmark_basis is not None and rows.shape[1] >= FIRST_STEP_POINTS[0]:
            first_obs, first_sub, first_rows = _first_step_points(obs, sub, rows)
            state = _joint_step(first_obs, first_sub, prior, state, first_rows)
        else:
            state = _joint_step(obs, sub, prior, state, rows)
    return _landmark_fit(obs, sub, state, rows, model.n_identity)


# a dense fit's first joint step (from the affine pose, it goes most of the way) on every third
# point, from 200 points: 0.6 of 7.5 ms a face of 468, and three steps end as near their
# converged answer (tools/fit_convergence.py, README 0.8.1)
FIRST_STEP_POINTS = (200, 3)


def _first_step_points(obs: _Observed, sub: _Subset, rows: torch.Tensor) -> tuple[_Observed, _Subset, torch.Tensor]:
    """The first joint step's view of a fit to points on fixed vertices: every third point,
    its residual weighted up so that the points weigh against the priors as all of them do."""
    keep = torch.arange(0, rows.shape[1], FIRST_STEP_POINTS[1], device=rows.device)
    gain = (rows.shape[1] / len(keep)) ** 0.5
    view = replace(
        obs,
        x2d=obs.x2d[:, keep],
        weights=None if obs.weights is None else obs.weights[:, keep],
        point_scale=obs.point_scale[:, keep] * gain,
    )
    return view, replace(sub, landmark_basis=sub.landmark_basis[keep]), rows[:, keep]


N_POSE = 6  # the pose step: rotation (axis-angle) and translation


def _joint_step(obs: _Observed, sub: _Subset, prior: _ShapePrior, state: _State, rows: torch.Tensor) -> _State:
    """One damped Gauss-Newton step of pose and coefficients together on the weighted
    reprojection error (in units of the landmark spread) plus the priors, with the
    blendshapes' box bounds (:func:`solve_box_qp`: pose and identity eliminated, the active
    set started from the current coefficients). Kept per face where it lowers that cost with
    every point in front of the camera; the pose's damping shrinks there and grows elsewhere."""
    coef, (rot, trans) = state.coef, state.pose
    cost, hess, grad = _joint_system(obs, sub, prior, state, rows)
    pose_diag = hess.diagonal(dim1=1, dim2=2)[:, :N_POSE]
    pose_diag += (state.damping * pose_diag.mean(-1).clamp_min(1e-12))[:, None]  # in place, in hess
    n_free = prior.n_free
    lower, upper, partition = prior.step_bounds
    start = torch.cat([torch.zeros_like(coef[:, :N_POSE]), coef[:, :n_free]], 1)
    z = solve_box_qp(hess, grad, lower, upper, start=start, partition=partition)
    delta = torch.nan_to_num(z[:, :N_POSE], nan=0.0, posinf=0.0, neginf=0.0)
    new_pose = (axis_angle_to_matrix(delta[:, :3]) @ rot, trans + delta[:, 3:])
    new_coef = torch.cat([z[:, N_POSE:], coef[:, n_free:]], 1)
    new_shape = sub.shape(new_coef)
    pc, _, res = _scaled_residuals(obs, new_shape[obs.batch_idx, rows], new_pose)
    better = _objective(prior, new_coef, pc, res) < cost
    return _State(
        (torch.where(better[:, None, None], new_pose[0], rot), torch.where(better[:, None], new_pose[1], trans)),
        torch.where(better[:, None], new_coef, coef),
        torch.where(better[:, None, None], new_shape, state.shape),
        torch.where(better, state.damping * 0.1, state.damping * 10).clamp(1e-8, 1e8),
    )


def _scaled_residuals(obs: _Observed, pts: torch.Tensor, pose: _Pose) -> tuple[torch.Tensor, ...]:
    """Camera-space points (b, k, 3), their projections (b, k, 2), and the reprojection
    residuals (b, k, 2) times the square root of each point's weight over the spread."""
    pc = transform(pts, *pose)
    proj = project(pc, obs.focal, obs.center)
    return pc, proj, (proj - obs.x2d) * obs.point_scale[..., None]


def _objective(prior: _ShapePrior, coef: torch.Tensor, pc: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
    """(b,) the fit's cost: the scaled squared residuals plus the priors; inf where a point is
    behind the camera or the cost is not finite."""
    cost = res.square().sum((1, 2)) + (prior.reg * (coef - prior.centre).square()).sum(1)
    ok = (pc[..., 2] > 1e-6).all(1) & torch.isfinite(cost)
    return torch.where(ok, cost, torch.full_like(cost, torch.inf))


SYSTEM_BYTES = 8 << 20  # the linear rows of this many bytes at once: a few faces of 468 points


def _joint_system(
    obs: _Observed, sub: _Subset, prior: _ShapePrior, state: _State, rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The cost (b,) at ``state``, and the normal equations (b, n, n) and (b, n) of the
    linearised problem in ``(pose step, free coefficients)``: the coefficients are absolute
    (the priors are centred on ``prior.centre``) and a held expression is left out. The rows
    are built a few faces at a time: a whole batch's run to tens of MB, which the allocator
    maps afresh (page faults) on every call."""
    coef, (rot, trans) = state.coef, state.pose
    pts = state.shape[obs.batch_idx, rows]
    b, k = pts.shape[:2]
    n_free = prior.n_free
    pc, proj, res = _scaled_residuals(obs, pts, state.pose)
    cost = _objective(prior, coef, pc, res)
    point_scale = obs.point_scale
    jac_pose = _reprojection_jacobian(pc, trans, obs.focal) * point_scale.repeat_interleave(2, 1)[..., None]
    res = res.reshape(b, 2 * k, 1)
    split = prior.n_identity if prior.held is None else 0
    per_face = max(1, SYSTEM_BYTES // (2 * k * n_free * pts.element_size()))
    hess, grad = [], []
    for s in range(0, b, per_face):
        f = slice(s, s + per_face)
        basis = sub.basis[rows[f]] if sub.landmark_basis is None else sub.landmark_basis
        m, _ = linear_shape_system(
            proj[f], sub.mean[rows[f]], basis, rot[f], trans[f], obs.focal[f], obs.center[f], pc[f, :, 2], point_scale[f]
        )
        m = m[..., :n_free]  # the Jacobian of the residuals in the coefficients (at the projections)
        target = m @ coef[f, :n_free, None] - res[f]  # J_c c0 - r0
        h, g = _pose_and_shape_gram(jac_pose[f], m, target, split)
        hess.append(h)
        grad.append(g)
    hess, grad = (hess[0], grad[0]) if len(hess) == 1 else (torch.cat(hess), torch.cat(grad))
    reg = torch.cat([torch.zeros_like(prior.reg[:N_POSE]), prior.reg[:n_free]])
    centre = torch.cat([torch.zeros_like(coef[:, :N_POSE]), prior.centre[:, :n_free]], 1)
    hess.diagonal(dim1=1, dim2=2).add_(reg)  # hess + diag(reg), without the (n, n) matrix
    return cost, hess, grad + reg * centre


def _pose_and_shape_gram(
    jac_pose: torch.Tensor, jac_coef: torch.Tensor, target: torch.Tensor, split: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``J^T J`` and ``J^T target`` for ``J = [jac_pose | jac_coef]``, the coefficients' block
    from three of its four blocks (:func:`_symmetric_gram`)."""
    jp_t = jac_pose.transpose(1, 2)
    cross = jp_t @ jac_coef
    top = torch.cat([jp_t @ jac_pose, cross], 2)
    bottom = torch.cat([cross.transpose(1, 2), _symmetric_gram(jac_coef, jac_coef, split)], 2)
    grad = torch.cat([jp_t @ target, jac_coef.transpose(1, 2) @ target], 1)[..., 0]
    return torch.cat([top, bottom], 1), grad


def _observed(faces: _FaceInputs, options: _FitOptions) -> _Observed:
    """Check the landmarks and turn the per-face inputs into tensors."""
    n_pts, dtype, device = options.n_points, options.dtype, options.device
    x2d = torch.as_tensor(np.asarray(faces.landmarks), dtype=dtype, device=device)
    if x2d.ndim != 3 or x2d.shape[1:] != (n_pts, 2):
        raise ValueError(f"landmarks must have shape (n, {n_pts}, 2), got {tuple(x2d.shape)}")
    if not torch.isfinite(x2d).all():
        raise ValueError("landmarks contain NaN or infinite values")
    b = len(x2d)
    focal = torch.as_tensor(np.asarray(faces.focal, dtype=np.float64), dtype=dtype, device=device).expand(b)
    center = torch.as_tensor(np.asarray(faces.center, dtype=np.float64), dtype=dtype, device=device).expand(
        b, 2
    )
    w = None
    if faces.weights is not None:
        w = torch.as_tensor(np.asarray(faces.weights), dtype=dtype, device=device).expand(b, n_pts)
        if not (torch.isfinite(w).all() and (w >= 0).all()):
            raise ValueError("weights must be finite and non-negative")
    spread = (x2d - x2d.mean(1, keepdim=True)).square().sum(-1).mean(1).sqrt()  # (b,)
    scale = spread.reciprocal()[:, None].expand(b, n_pts)
    scale = scale if w is None else scale * w.sqrt()
    return _Observed(x2d, focal, center, w, scale, torch.arange(b, device=device)[:, None])


_subsets: dict[tuple, _Subset] = {}


def _landmark_subset(model: MorphableModel, options: _FitOptions) -> _Subset:
    """Only the vertices landmarks can touch: the 68 (or ``landmark_vertices``) plus the jaw
    candidates; made once per model, points, device and precision (a few are kept)."""
    vertices = options.landmark_vertices
    key = (
        model.fingerprint,
        None if vertices is None else np.asarray(vertices, dtype=np.int64).tobytes(),
        options.contour,
        str(options.device),
        options.dtype,
    )
    if key not in _subsets:
        if len(_subsets) >= 8:
            _subsets.pop(next(iter(_subsets)))
        with torch.inference_mode(False):  # ordinary tensors, kept between calls
            _subsets[key] = _make_landmark_subset(model, options)
    return _subsets[key]


def _make_landmark_subset(model: MorphableModel, options: _FitOptions) -> _Subset:
    device = options.device
    if options.landmark_vertices is None:
        lm_ids = torch.as_tensor(model.landmark_indices, device=device)
        cand = model.contour_candidates if options.contour else None
    else:  # each point keeps its vertex: no contour re-matching
        lm_ids = torch.as_tensor(np.asarray(options.landmark_vertices, dtype=np.int64), device=device)
        cand = None
    extra = [torch.as_tensor(cand[s], device=device) for s in ("right", "left")] if cand else []
    sub_ids, inverse = torch.unique(torch.cat([lm_ids, *extra]), return_inverse=True)
    t = model.tensors(device, options.dtype)
    mean = t["mean"][sub_ids]  # (m, 3)
    # (m, 3, n_coef) laid out in that order: the batched row products read it contiguously (twice as fast)
    basis = torch.cat([t["identity"][:, sub_ids], t["expression"][:, sub_ids]], 0).permute(1, 2, 0).contiguous()
    contour_sets = []
    if cand:
        for side, lms in (("right", RIGHT_CONTOUR), ("left", LEFT_CONTOUR)):
            ids = torch.cat([lm_ids[list(lms)], torch.as_tensor(cand[side], device=device)])
            contour_sets.append((list(lms), torch.searchsorted(sub_ids, torch.unique(ids))))
    rows = inverse[: options.n_points]
    shared = None if contour_sets else basis[rows]  # no contour: the rows stay put
    return _Subset(sub_ids, mean, basis, rows, contour_sets, shared)


def _shape_prior(
    model: MorphableModel, faces: _FaceInputs, options: _FitOptions, b: int
) -> tuple[_ShapePrior, torch.Tensor]:
    """The coefficients' prior and bounds, and the (b, k) coefficients to start from."""
    dtype, device = options.dtype, options.device
    n_id, n_exp = model.n_identity, model.n_expression
    k = n_id + n_exp
    reg = torch.cat(
        [
            torch.full((n_id,), options.identity_reg, dtype=dtype),
            torch.full((n_exp,), options.expression_reg, dtype=dtype),
        ]
    ).to(device)
    lower = torch.full((k,), -torch.inf, dtype=dtype, device=device)
    upper = torch.full((k,), torch.inf, dtype=dtype, device=device)
    coef = torch.zeros(b, k, dtype=dtype, device=device)
    if model.expression_bounds is not None:
        lo, hi = model.expression_bounds
        lower[n_id:], upper[n_id:] = model.expression_bounds
        coef[:, n_id:] = min(max(0.0, lo), hi)
    if faces.fixed_shape is not None:
        fa, fb = (torch.as_tensor(np.asarray(c), dtype=dtype, device=device) for c in faces.fixed_shape)
        coef = torch.cat([fa, fb], 1)
    centre = torch.zeros(b, k, dtype=dtype, device=device)
    if faces.prior_shape is not None:
        pa, pb = (torch.as_tensor(np.asarray(c), dtype=dtype, device=device) for c in faces.prior_shape)
        centre = torch.cat([pa, pb], 1).clamp(lower, upper)
        coef = centre.clone()
    held = None
    if faces.fixed_expression is not None:
        held = torch.as_tensor(np.asarray(faces.fixed_expression), dtype=dtype, device=device)
        if held.shape != (b, n_exp) or not torch.isfinite(held).all():
            raise ValueError(f"fixed_expression must be finite with shape ({b}, {n_exp}), got {tuple(held.shape)}")
        coef[:, n_id:] = held
    return _ShapePrior(reg, lower, upper, centre, held, n_id), coef


def _initial_pose(obs: _Observed, shape: torch.Tensor, rows: torch.Tensor, options: _FitOptions) -> _Pose:
    """Affine pose on the inner landmarks (the jaw slides), then, for the 68 points, whose
    pose picks the jaw contour's vertices, Levenberg-Marquardt steps. Points that keep their
    vertices (``landmark_vertices``) go to the joint steps from the affine pose, whose damped
    pose step refines it (on MediaPipe's 468 points the LM steps cost 1.6 ms of a face's 8.9
    and hardly move the answer of three steps: ``tools/fit_convergence.py``, README 0.8.1)."""
    inner = slice(17, 68) if options.landmark_vertices is None else slice(None)
    x2d, pts = obs.x2d[:, inner], shape[obs.batch_idx, rows[:, inner]]
    rot, trans = _pose_in_float64(estimate_pose_affine, x2d, pts, obs.focal, obs.center)
    if options.landmark_vertices is not None:
        return rot, trans
    return _pose_in_float64(refine_pose, x2d, pts, rot, trans, obs.focal, obs.center)


def _match_contour(
    obs: _Observed, sub: _Subset, shape: torch.Tensor, rows: torch.Tensor, pose: _Pose
) -> None:
    """Re-match the jaw contour landmarks to the nearest jaw-line vertices, in place in ``rows``."""
    rot, trans = pose
    for lms, cand_rows in sub.contour_sets:
        proj = project(transform(shape[:, cand_rows], rot, trans), obs.focal, obs.center)
        rows[:, lms] = nearest_contour_vertices(obs.x2d[:, lms], proj, cand_rows)




def _symmetric_gram(mw: torch.Tensor, m: torch.Tensor, split: int) -> torch.Tensor:
    """``mw^T m`` (b, k, k), symmetric, from three of its four blocks split at ``split``
    (identity | expression): the lower-left block is the upper-right's transpose, a fifth of
    the products saved."""
    k = m.shape[-1]
    if not 0 < split < k:
        return mw.transpose(1, 2) @ m
    top = mw[..., :split].transpose(1, 2) @ m  # (b, split, k)
    bottom = mw[..., split:].transpose(1, 2) @ m[..., split:]  # (b, k - split, k - split)
    return torch.cat([top, torch.cat([top[..., split:].transpose(1, 2), bottom], -1)], 1)


def _landmark_fit(obs: _Observed, sub: _Subset, state: _State, rows: torch.Tensor, n_id: int) -> LandmarkFit:
    """The result record of a batch fit."""
    coef, (rot, trans) = state.coef, state.pose
    pts = state.shape[obs.batch_idx, rows]
    fitted2d = project(transform(pts, rot, trans), obs.focal, obs.center)
    yaw, pitch, roll = matrix_to_euler(rot)
    return LandmarkFit(
        alpha=coef[:, :n_id],
        beta=coef[:, n_id:],
        rotation=rot,
        translation=trans,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        focal=obs.focal,
        center=obs.center,
        landmarks2d=fitted2d,
        vertex_ids=sub.ids[rows],
        reprojection_error=(fitted2d - obs.x2d).norm(dim=-1).mean(1),
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
