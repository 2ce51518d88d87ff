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
    """
    from scipy.io import loadmat

    path = Path(path)
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for corrupt .mat files
        raise ModelFileError(f"cannot read {path} as a MATLAB file: {exc}") from exc
    missing = [k for k in REQUIRED_KEYS if k not in mat]
    if missing:
        raise ModelFileError(f"{path} is not a BFM_model_front.mat: missing keys {missing}")

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
