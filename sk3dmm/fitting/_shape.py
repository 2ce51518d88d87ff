"""Linear identity and expression fit for a fixed pose, with priors and box bounds."""

from __future__ import annotations

import torch

from ._script import scripted


def linear_shape_system(
    points2d: torch.Tensor,
    mean: torch.Tensor,
    basis: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    focal: torch.Tensor,
    center: torch.Tensor,
    depth: torch.Tensor,
    point_scale: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``M c = r`` whose least-squares solution fits coefficients ``c`` to landmarks.

    Perspective projection is made linear by multiplying through by the depth and dividing
    by the current depth estimate, so residuals are (approximately) in pixels:
    ``(f * X_c - (u - c_x) * Z_c) / Z_now = 0``.

    Parameters
    ----------
    points2d : (b, n, 2)
    mean : (b, n, 3) model-space mean of the corresponding vertices
    basis : (b, n, 3, k) model-space basis rows of those vertices, or (n, 3, k) shared by the batch
    rotation, translation : (b, 3, 3), (b, 3)
    focal, center : (b,), (b, 2)
    depth : (b, n) current depth of each point (weights)
    point_scale : (b, n), optional
        Each point's two rows (and residuals) multiplied by it: the square root of a weight,
        so that ``M^T M`` and ``M^T r`` are the weighted normal equations.

    Returns
    -------
    M (b, 2n, k), r (b, 2n)
    """
    a = mean @ rotation.transpose(1, 2) + translation[:, None]  # (b, n, 3)
    b, k = len(points2d), basis.shape[-1]
    uc = points2d - center[:, None]  # (b, n, 2)
    f = focal[:, None, None]
    inv = 1.0 / depth.clamp_min(1e-6)[..., None]  # (b, n, 1)
    if point_scale is not None:
        inv = inv * point_scale[..., None]
    # each point's (2, 3) row map A R (A = [[f, 0, -u], [0, f, -v]] / depth) times its (3, k)
    # basis: one batched product over the points (a shared basis: all faces' rows at once)
    rows = (f[..., None] * rotation[:, None, :2] - uc[..., None] * rotation[:, None, 2:3]) * inv[..., None]
    if basis.dim() == 3:
        n = basis.shape[0]
        m = torch.bmm(rows.transpose(0, 1).reshape(n, b * 2, 3), basis).reshape(n, b, 2, k).transpose(0, 1)
    else:
        m = rows @ basis  # (b, n, 2, k)
    r = (uc * a[..., 2:3] - f * a[..., :2]) * inv  # (b, n, 2)
    return m.reshape(b, -1, k), r.reshape(b, -1)


def solve_box_qp(
    hessian: torch.Tensor,
    gradient: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    max_iter: int = 8,
    start: torch.Tensor | None = None,
    partition: tuple | None = None,
) -> torch.Tensor:
    """Minimise ``0.5 c^T H c - g^T c`` subject to ``lower <= c <= upper``, batched.

    Variables unbounded on both sides are eliminated first (Schur complement), so the
    iterative part only sees the bounded ones: for a 3DMM that is the 53 blendshapes rather
    than all 153 coefficients. The bounded part is solved by a primal active-set method:
    solve with the active variables pinned, pin those that leave their box, release pinned
    ones whose Lagrange multiplier has the wrong sign. H must be positive definite; every
    system is solved by Cholesky. ``start`` warm-starts the active set: the variables at
    their bounds there start pinned (a fit's previous round pins mostly the same ones, so it
    takes one or two steps instead of three or four, and ends on the same active set and
    the same solution).

    Parameters
    ----------
    hessian : (b, k, k)
    gradient : (b, k)
    lower, upper : (k,) bounds; -inf/+inf for none
    start : (b, k), optional
        A guess, e.g. the previous solution of a similar problem.
    partition : optional
        :func:`box_partition` of the bounds, where many problems share them (made here
        otherwise: a dozen small operations).

    Returns
    -------
    (b, k) tensor
    """
    f, c = box_partition(lower, upper) if partition is None else partition
    if c is None:
        return _chol_solve(hessian, gradient)
    start = torch.full_like(gradient, torch.nan) if start is None else start
    if f is None:
        return _active_set(hessian, gradient, lower, upper, max_iter, start)
    h_ff, h_fc, h_cc = hessian[:, f][:, :, f], hessian[:, f][:, :, c], hessian[:, c][:, :, c]
    chol = robust_cholesky(h_ff)
    x = torch.cholesky_solve(torch.cat([gradient[:, f, None], h_fc], -1), chol)  # H_ff^-1 [g_f, H_fc]
    schur = h_cc - h_fc.transpose(1, 2) @ x[..., 1:]
    g_c = gradient[:, c] - (h_fc.transpose(1, 2) @ x[..., :1])[..., 0]
    sol_c = _active_set(schur, g_c, lower[c], upper[c], max_iter, start[:, c])
    sol_f = x[..., 0] - (x[..., 1:] @ sol_c[..., None])[..., 0]
    out = torch.empty_like(gradient)
    out[:, f], out[:, c] = sol_f, sol_c
    return out


def box_partition(lower: torch.Tensor, upper: torch.Tensor) -> tuple:
    """The variables unbounded on both sides and the others, each as a slice where they are
    consecutive (views, not copies) or an index tensor; None for none."""
    free = torch.isinf(lower) & torch.isinf(upper)
    if free.all():
        return _as_slice(torch.nonzero(free)[:, 0]), None
    if not free.any():
        return None, _as_slice(torch.nonzero(~free)[:, 0])
    return _as_slice(torch.nonzero(free)[:, 0]), _as_slice(torch.nonzero(~free)[:, 0])


def robust_cholesky(matrix: torch.Tensor, max_tries: int = 6) -> torch.Tensor:
    """Batched Cholesky factor; systems that are not numerically positive definite (float32
    round-off on degenerate inputs) get a growing diagonal jitter until they factor."""
    chol, info = torch.linalg.cholesky_ex(matrix)
    if not bool((info > 0).any()):
        return chol
    scale = matrix.diagonal(dim1=-2, dim2=-1).abs().mean(-1).clamp_min(1e-12)
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    jitter = 1e-6
    for _ in range(max_tries):
        bad = info > 0
        fixed, info_fixed = torch.linalg.cholesky_ex(matrix[bad] + (jitter * scale[bad])[:, None, None] * eye)
        chol[bad] = fixed
        info[bad.nonzero()[:, 0]] = info_fixed
        if not bool((info > 0).any()):
            return chol
        jitter *= 100
    raise torch.linalg.LinAlgError("normal equations stayed singular after adding diagonal jitter")


def _chol_solve(hessian: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    return torch.cholesky_solve(rhs[..., None], robust_cholesky(hessian))[..., 0]


def _as_slice(index: torch.Tensor) -> torch.Tensor | slice:
    """A run of consecutive indices (identity's, expression's) as a slice: a view, not a copy."""
    first, n = int(index[0]), len(index)
    return slice(first, first + n) if int(index[-1]) == first + n - 1 else index


def _active_set(
    hessian: torch.Tensor,
    gradient: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    max_iter: int,
    start: torch.Tensor,
) -> torch.Tensor:
    """The active-set iterations, as one TorchScript function (the same steps and bits, a
    fraction of the call overhead); where a system does not factor, the steps again with
    :func:`robust_cholesky`'s jitter. ``start`` (b, k): where it is at a bound, that bound
    is active at first (NaN: none is)."""
    solution, factored = scripted(_active_set_steps)(hessian, gradient, lower, upper, max_iter, start)
    if factored:
        return solution
    return _active_set_steps(hessian, gradient, lower, upper, max_iter, start, True)[0]


def _active_set_steps(
    hessian: torch.Tensor,
    gradient: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    max_iter: int,
    start: torch.Tensor,
    robust: bool = False,
):
    """Returns the solution and whether every system factored (always, when ``robust``)."""
    b, k = gradient.shape
    lower, upper = lower.expand(b, k), upper.expand(b, k)
    at_lower, at_upper = start <= lower, start >= upper
    pinned = at_lower | at_upper
    value = torch.where(at_lower, lower, torch.where(at_upper, upper, torch.zeros_like(gradient)))
    eye = torch.eye(k, dtype=hessian.dtype, device=hessian.device)
    c = gradient
    for _ in range(max_iter):
        free = ~pinned
        fixed_part = (hessian @ torch.where(pinned, value, 0.0)[..., None])[..., 0]
        h = torch.where(free[:, :, None] & free[:, None, :], hessian, 0.0) + eye * pinned[:, None, :]
        rhs = torch.where(pinned, value, gradient - fixed_part)[..., None]
        if robust:
            chol = robust_cholesky(h)
        else:
            chol, info = torch.linalg.cholesky_ex(h)
            if bool((info > 0).any()):
                return c, False
        c = torch.cholesky_solve(rhs, chol)[..., 0]
        below, above = free & (c < lower), free & (c > upper)
        grad = (hessian @ c[..., None])[..., 0] - gradient  # KKT: >= 0 at lower, <= 0 at upper
        release = pinned & (((value <= lower) & (grad < 0)) | ((value >= upper) & (grad > 0)))
        if not (below.any() or above.any() or release.any()):
            break
        value = torch.where(below, lower, torch.where(above, upper, value))
        pinned = (pinned | below | above) & ~release
    return c.clamp(lower, upper), True
