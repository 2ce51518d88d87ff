"""The linear morphable model: mean shape, identity and expression bases, optional texture."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, fields

import numpy as np
import torch


@dataclass(eq=False)
class MorphableModel:
    """A linear 3D morphable face model.

    ``vertices = mean + sum_k alpha_k * identity_basis[k] + sum_j beta_j * expression_basis[j]``.

    Parameters
    ----------
    mean : ndarray of shape (n_vertices, 3)
        Mean (neutral) shape, in model units (see ``unit_mm``).
    identity_basis : ndarray of shape (n_identity, n_vertices, 3)
        Identity modes as vertex offsets, scaled so that ``alpha ~ N(0, 1)``.
    expression_basis : ndarray of shape (n_expression, n_vertices, 3)
        Expression modes (PCA modes or blendshapes) as vertex offsets.
    triangles : ndarray of shape (n_triangles, 3)
        0-based vertex indices.
    landmark_indices : ndarray of shape (68,)
        Vertex of each iBUG-68 landmark (dlib order), 0-based.
    expression_names : list of str
        One name per expression mode (e.g. ARKit names ``jawOpen`` or ``0 .. 63``).
    expression_bounds : tuple of float or None
        ``(0, 1)`` for blendshape models such as ICT; ``None`` for PCA expression bases
        with a Gaussian prior (BFM).
    unit_mm : float
        Millimetres per model unit (ICT: 10, centimetres; Deep3DFaceRecon BFM: 100, decimetres).
    texture_mean, texture_basis : ndarray or None
        Per-vertex RGB albedo in [0, 1] and its modes (BFM only).
    contour_candidates : dict or None
        ``{"right": ..., "left": ...}`` jaw-line vertices that image contour landmarks
        0-7 and 9-16 may correspond to as the head turns.
    regions : dict
        Name to vertex indices, e.g. ``"face"``.
    name : str
        Short human-readable name.
    """

    mean: np.ndarray
    identity_basis: np.ndarray
    expression_basis: np.ndarray
    triangles: np.ndarray
    landmark_indices: np.ndarray
    expression_names: list[str]
    expression_bounds: tuple[float, float] | None = None
    unit_mm: float = 1.0
    texture_mean: np.ndarray | None = None
    texture_basis: np.ndarray | None = None
    contour_candidates: dict[str, np.ndarray] | None = None
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "morphable model"
    _tensors: dict = field(default_factory=dict, repr=False)
    # (file name, its SHA-256, content digest, the function that reloads it) when loaded from an
    # embedded file; set by the loader, never by __init__, so a copy made with
    # dataclasses.replace does not claim it. The loader travels with it, so this module does not
    # import the loaders' module (no import cycle).
    _embedded: tuple | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.mean)
        if self.mean.shape != (n, 3):
            raise ValueError(f"mean must have shape (n_vertices, 3), got {self.mean.shape}")
        for key in ("identity_basis", "expression_basis", "texture_basis"):
            basis = getattr(self, key)
            if basis is not None and basis.shape[1:] != (n, 3):
                raise ValueError(f"{key} must have shape (k, {n}, 3), got {basis.shape}")
        if len(self.expression_names) != self.n_expression:
            raise ValueError("expression_names must have one name per expression mode")
        if self.landmark_indices.shape != (68,) or self.landmark_indices.max() >= n:
            raise ValueError("landmark_indices must hold 68 vertex indices")
        if self.triangles.max() >= n or self.triangles.min() < 0:
            raise ValueError("triangles index vertices that do not exist")
        # a cache of this object's arrays: a copy made with dataclasses.replace starts its own
        self._tensors = {}
        h = hashlib.blake2b(digest_size=12)
        for a in (self.mean, self.identity_basis, self.expression_basis, self.landmark_indices):
            h.update(np.ascontiguousarray(a).data)
        self.fingerprint = h.hexdigest()

    # ------------------------------------------------------------------ pickling and copies
    def _content_digest(self) -> str:
        """SHA-256 of everything the model holds (arrays, names, bounds, units), not its caches."""
        h = hashlib.sha256()
        for f in fields(self):
            if f.name in ("_tensors", "_embedded"):
                continue
            h.update(f.name.encode())
            _digest_value(h, getattr(self, f.name))
        return h.hexdigest()

    def __reduce_ex__(self, protocol):
        """An embedded model, unchanged since it was loaded, pickles as its file name and SHA-256
        and is reloaded on unpickling (from the per-process cache); any other model in full."""
        if self._embedded is not None and self._content_digest() == self._embedded[2]:
            name, sha256, _, reload = self._embedded
            return reload, (name, sha256)
        return super().__reduce_ex__(protocol)

    def __getstate__(self) -> dict:
        """Pickled state: the arrays, without the torch copies ``tensors`` caches (they may sit
        on a GPU the unpickling process lacks, and would double or treble the pickle)."""
        return {**self.__dict__, "_tensors": {}, "_embedded": None}

    def __copy__(self) -> MorphableModel:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict) -> MorphableModel:
        new = object.__new__(type(self))
        memo[id(self)] = new
        state = {k: v for k, v in self.__dict__.items() if k != "_tensors"}
        new.__dict__.update(copy.deepcopy(state, memo))
        new._tensors = {}
        return new

    # ------------------------------------------------------------------ sizes and names
    @property
    def n_vertices(self) -> int:
        return len(self.mean)

    @property
    def n_identity(self) -> int:
        return len(self.identity_basis)

    @property
    def n_expression(self) -> int:
        return len(self.expression_basis)

    @property
    def n_texture(self) -> int:
        return 0 if self.texture_basis is None else len(self.texture_basis)

    def coef_names(self, block: str) -> list[str]:
        """Names of one coefficient block: ``alpha``, ``beta``, ``texture`` or ``pose``."""
        if block == "alpha":
            return [f"alpha_{k}" for k in range(self.n_identity)]
        if block == "beta":
            return [f"beta_{name}" for name in self.expression_names]
        if block == "texture":
            return [f"texture_{k}" for k in range(self.n_texture)]
        if block == "pose":
            return list(POSE_NAMES)
        raise ValueError(f"unknown coefficient block {block!r}; use alpha, beta, texture or pose")

    # ------------------------------------------------------------------ torch geometry
    def tensors(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> dict:
        """The model's arrays as torch tensors on ``device``, built once and cached."""
        key = (str(torch.device(device)), dtype)
        if key not in self._tensors:
            with torch.inference_mode(False):  # ordinary tensors, even when first asked for by the fit
                self._tensors[key] = self._make_tensors(device, dtype)
        return self._tensors[key]

    def _make_tensors(self, device: str | torch.device, dtype: torch.dtype) -> dict:
        t = {
            "mean": torch.as_tensor(self.mean, dtype=dtype, device=device),
            "identity": torch.as_tensor(self.identity_basis, dtype=dtype, device=device),
            "expression": torch.as_tensor(self.expression_basis, dtype=dtype, device=device),
            "triangles": torch.as_tensor(self.triangles, dtype=torch.long, device=device),
            "landmarks": torch.as_tensor(self.landmark_indices, dtype=torch.long, device=device),
        }
        lm = t["landmarks"]  # the 68 landmark vertices' rows, gathered once
        t["landmark_rows"] = (t["mean"][lm], t["identity"][:, lm], t["expression"][:, lm])
        if self.texture_basis is not None:
            t["texture_mean"] = torch.as_tensor(self.texture_mean, dtype=dtype, device=device)
            t["texture"] = torch.as_tensor(self.texture_basis, dtype=dtype, device=device)
        return t

    def vertices(
        self,
        alpha: torch.Tensor | np.ndarray,
        beta: torch.Tensor | np.ndarray,
        indices: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """Batched vertex positions.

        Parameters
        ----------
        alpha : (batch, n_identity) tensor or array
        beta : (batch, n_expression) tensor or array
        indices : (m,) vertex indices, optional
            Compute only these vertices (much faster for landmarks).

        Returns
        -------
        (batch, n_vertices or m, 3) tensor on the device and dtype of ``alpha``.
        """
        alpha, beta = _as_coefficients(alpha, beta)
        t = self.tensors(alpha.device, alpha.dtype)
        rows = t["mean"], t["identity"], t["expression"]
        if indices is not None:
            idx = torch.as_tensor(indices, dtype=torch.long, device=alpha.device)
            rows = rows[0][idx], rows[1][:, idx], rows[2][:, idx]
        return self._combine(alpha, beta, rows)

    def _combine(self, alpha: torch.Tensor, beta: torch.Tensor, rows: tuple) -> torch.Tensor:
        """``mean + alpha @ identity + beta @ expression`` over the vertex rows ``rows``."""
        mean, ident, expr = rows
        out = mean.reshape(1, -1) + alpha @ ident.reshape(self.n_identity, -1)
        out = out + beta @ expr.reshape(self.n_expression, -1)
        return out.reshape(-1, mean.shape[0], 3)

    def landmarks(self, alpha: torch.Tensor | np.ndarray, beta: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The 68 landmark vertices, ``(batch, 68, 3)`` (their rows gathered once, in ``tensors``)."""
        alpha, beta = _as_coefficients(alpha, beta)
        return self._combine(alpha, beta, self.tensors(alpha.device, alpha.dtype)["landmark_rows"])

    def albedo(self, texture: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Per-vertex RGB albedo from texture coefficients (models with a texture basis)."""
        if self.texture_basis is None:
            raise ValueError(f"{self.name} has no texture basis; use sk3dmm.render albedo instead")
        texture = torch.as_tensor(texture)
        t = self.tensors(texture.device, texture.dtype)
        out = t["texture_mean"].reshape(1, -1) + texture @ t["texture"].reshape(self.n_texture, -1)
        return out.reshape(-1, self.n_vertices, 3)

    def region(self, name: str) -> np.ndarray:
        """Vertex indices of a named region (``"face"`` is always present)."""
        if name not in self.regions:
            raise KeyError(f"{self.name} has no region {name!r}; it has {sorted(self.regions)}")
        return self.regions[name]


def _digest_value(h, value) -> None:
    """Feed one field's value to a hash: arrays by dtype, shape and bytes, containers by item."""
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).data)
    elif isinstance(value, dict):
        h.update(f"dict{len(value)}".encode())
        for key in sorted(value):
            h.update(repr(key).encode())
            _digest_value(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value:
            _digest_value(h, item)
    else:
        h.update(repr(value).encode())


POSE_NAMES = ("pose_yaw", "pose_pitch", "pose_roll", "pose_tx", "pose_ty", "pose_tz")


def _as_coefficients(alpha, beta) -> tuple[torch.Tensor, torch.Tensor]:
    """``alpha`` as a float tensor (float32 unless it is floating already), ``beta`` like it."""
    alpha = torch.as_tensor(alpha)
    if not alpha.is_floating_point():
        alpha = alpha.float()
    return alpha, torch.as_tensor(beta, dtype=alpha.dtype, device=alpha.device)
