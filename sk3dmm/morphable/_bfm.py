"""Deep3DFaceRecon's ``BFM_model_front.mat`` (Basel Face Model 2009 + expression basis).

The Basel Face Model cannot be redistributed; users who have it get the paper's setup
(alpha 80, beta 64, texture 80) by passing their file here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..exceptions import ModelFileError
from ._model import MorphableModel

REQUIRED_KEYS = ("meanshape", "idBase", "exBase", "meantex", "texBase", "tri", "keypoints")


def _check_bfm_shapes(mat: dict, path: Path) -> None:
    """Every array of a BFM_model_front.mat consistent with ``meanshape``, else ModelFileError."""
    size = np.asarray(mat["meanshape"]).size
    if size == 0 or size % 3:
        raise ModelFileError(f"{path}: meanshape has {size} numbers, not 3 per vertex")
    n = size // 3
    problems = []
    if np.asarray(mat["meantex"]).size != 3 * n:
        problems.append(f"meantex has {np.asarray(mat['meantex']).size} numbers, expected {3 * n}")
    for key in ("idBase", "exBase", "texBase"):
        shape = np.asarray(mat[key]).shape
        if len(shape) != 2 or shape[0] != 3 * n or shape[1] == 0:
            problems.append(f"{key} has shape {shape}, expected ({3 * n}, k)")
    tri = np.asarray(mat["tri"])
    if tri.ndim != 2 or tri.shape[1] != 3 or tri.size == 0 or tri.min() < 1 or tri.max() > n:
        problems.append(f"tri has shape {tri.shape}; expected (F, 3) of 1-based vertex indices up to {n}")
    keypoints = np.asarray(mat["keypoints"])
    if keypoints.size != 68 or keypoints.min() < 1 or keypoints.max() > n:
        problems.append(f"keypoints has {keypoints.size} entries; expected 68 1-based vertex indices")
    if problems:
        raise ModelFileError(f"{path} is not a consistent BFM_model_front.mat: " + "; ".join(problems))


def load_bfm_model(path: str | Path, *, recenter: bool = True) -> MorphableModel:
    """Load ``BFM_model_front.mat`` as written by Deep3DFaceRecon's ``transferBFM09``.

    Keys read: ``meanshape`` (1, 3N), ``idBase`` (3N, 80), ``exBase`` (3N, 64),
    ``meantex`` (1, 3N, 0-255), ``texBase`` (3N, 80), ``tri`` (F, 3, 1-based),
    ``keypoints`` (1, 68, 1-based), and optionally ``frontmask2_idx`` and ``skinmask``.
    Units are decimetres, as in Deep3DFaceRecon.

    Parameters
    ----------
    path : str or Path
    recenter : bool, default=True
        Subtract the mean shape's centroid, as Deep3DFaceRecon's ``ParametricFaceModel`` does.

    Returns
    -------
    MorphableModel

    Examples
    --------
    A file in the exact layout (here a tiny random one; the real file has 35,709 vertices):

    >>> import tempfile, numpy as np
    >>> from scipy.io import savemat
    >>> from sk3dmm import load_bfm_model
    >>> rng, n = np.random.default_rng(0), 70
    >>> path = tempfile.mkdtemp() + "/BFM_model_front.mat"
    >>> savemat(path, {"meanshape": rng.normal(size=(1, 3 * n)), "idBase": rng.normal(size=(3 * n, 80)),
    ...     "exBase": rng.normal(size=(3 * n, 64)), "meantex": rng.uniform(0, 255, (1, 3 * n)),
    ...     "texBase": rng.normal(size=(3 * n, 80)), "tri": rng.integers(1, n + 1, (40, 3)),
    ...     "keypoints": np.arange(1, 69)[None]})
    >>> model = load_bfm_model(path)
    >>> model.n_identity, model.n_expression, model.unit_mm
    (80, 64, 100.0)
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"BFM model file {path}: file not found")
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for corrupt .mat files
        raise ModelFileError(f"cannot read {path} as a MATLAB file: {exc}") from exc
    missing = [k for k in REQUIRED_KEYS if k not in mat]
    if missing:
        raise ModelFileError(f"{path} is not a BFM_model_front.mat: missing keys {missing}")

    _check_bfm_shapes(mat, path)
    mean = np.asarray(mat["meanshape"], dtype=np.float32).reshape(-1, 3)
    if recenter:
        mean = mean - mean.mean(0, keepdims=True)
    n = len(mean)

    def basis(key: str) -> np.ndarray:
        b = np.asarray(mat[key], dtype=np.float32)
        if b.shape[0] != 3 * n:
            raise ModelFileError(f"{path}: {key} has {b.shape[0]} rows, expected {3 * n}")
        return b.T.reshape(b.shape[1], n, 3).copy()

    texture_mean = np.asarray(mat["meantex"], dtype=np.float32).reshape(n, 3) / 255.0
    texture_basis = basis("texBase") / 255.0
    regions = {"face": np.arange(n)}
    for key, name in (("frontmask2_idx", "front"), ("skinmask", "skin")):
        if key in mat:
            m = np.asarray(mat[key]).ravel()
            regions[name] = np.flatnonzero(m) if name == "skin" else m.astype(np.int64) - 1
    exp = basis("exBase")
    return MorphableModel(
        mean=mean,
        identity_basis=basis("idBase"),
        expression_basis=exp,
        triangles=np.asarray(mat["tri"], dtype=np.int64) - 1,
        landmark_indices=np.asarray(mat["keypoints"], dtype=np.int64).ravel() - 1,
        expression_names=[str(k) for k in range(len(exp))],
        expression_bounds=None,
        unit_mm=100.0,
        texture_mean=texture_mean,
        texture_basis=texture_basis,
        regions=regions,
        name=f"BFM ({path.name})",
    )
