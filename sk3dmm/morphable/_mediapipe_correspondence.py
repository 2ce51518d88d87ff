"""The ICT model's vertex for each of MediaPipe's 468 face-mesh points (made on renders)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..exceptions import ModelFileError
from ._files import verified_path

DATA_FILE = Path(__file__).resolve().parent / "data" / "ict_mediapipe468.npz"


@dataclass(frozen=True)
class MeshCorrespondence:
    """Where MediaPipe's 468 points lie on the embedded ICT model.

    Attributes
    ----------
    vertex_ids : (468,) int, the model vertex of each mesh point
    residual : (468,) float, median distance between point and vertex on the renders it was
        made from, in inter-ocular distances (small: the point stays on its vertex; larger on
        the face oval, whose points slide with the silhouette)

    The mesh's 68 iBUG points are :data:`sk3dmm.faces.MESH_TO_68` (one mapping for every use).
    """

    vertex_ids: np.ndarray
    residual: np.ndarray

    def weights(self, floor: float = 0.03) -> np.ndarray:
        """Fitting weights (468,): 1 for points within ``floor`` of their vertex, falling with
        the square of the residual beyond (sliding oval points count less)."""
        return (floor / np.maximum(self.residual, floor)) ** 2


@lru_cache(maxsize=1)
def mediapipe_correspondence() -> MeshCorrespondence:
    """The correspondence shipped with sk3dmm (``tools/make_mediapipe_correspondence.py``).

    Examples
    --------
    >>> corr = mediapipe_correspondence()
    >>> corr.vertex_ids.shape, bool((corr.weights() <= 1).all())
    ((468,), True)
    """
    path = verified_path(DATA_FILE, DATA_FILE.with_suffix(".sha256"))
    try:
        with np.load(path) as data:
            out = MeshCorrespondence(
                vertex_ids=data["vertex_ids"].astype(np.int64),
                residual=data["residual"].astype(np.float64),
            )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path}: cannot read the MediaPipe correspondence ({exc})") from exc
    if out.vertex_ids.shape != (468,):
        raise ModelFileError(f"{path}: expected 468 vertex ids, got {out.vertex_ids.shape}")
    return out
