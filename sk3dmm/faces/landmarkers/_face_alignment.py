"""Optional landmark backend: the ``face-alignment`` package (FAN), used only when its weights
are already on disk. It downloads them on first use, which sk3dmm never triggers."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...exceptions import ModelFileError
from .._face import Face

NEEDED = ("2DFAN4", "s3fd")


def hub_checkpoints() -> Path:
    """Where torch.hub (and so face-alignment) caches weights."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


def cached_weights() -> dict[str, Path]:
    """The face-alignment weight files present on disk, by model name."""
    folder = hub_checkpoints()
    found = {}
    for name in NEEDED:
        hits = sorted(folder.glob(f"{name}*")) if folder.is_dir() else []
        if hits:
            found[name] = hits[0]
    return found


@lru_cache(maxsize=1)
def _aligner(device: str):
    missing = [n for n in NEEDED if n not in cached_weights()]
    if missing:
        raise ModelFileError(
            f"face-alignment weights {missing} are not in {hub_checkpoints()}; sk3dmm does not download "
            "them. Run face-alignment once where the network is reachable, or use detector='mediapipe' or 'hog'."
        )
    try:
        import face_alignment
    except ImportError as exc:
        raise ModelFileError(
            "detector='face_alignment' needs the face-alignment package (pip install face-alignment)"
        ) from exc
    kind = getattr(face_alignment.LandmarksType, "TWO_D", None) or face_alignment.LandmarksType._2D
    return face_alignment.FaceAlignment(kind, device=device, flip_input=False)


def detect_faces_fan(image: np.ndarray, device: str = "cpu") -> list[Face]:
    """Faces and 68 landmarks from face-alignment's S3FD detector and FAN, best score first."""
    fa = _aligner(device)
    result = fa.get_landmarks_from_image(image, return_bboxes=True)
    landmarks, boxes = result[0], result[-1]
    if landmarks is None:
        return []
    out = []
    for lm, box in zip(landmarks, boxes):
        box = np.asarray(box, dtype=np.float32)
        score = float(box[4]) if len(box) > 4 else 1.0
        out.append(Face(box=box[:4], score=score, points=np.asarray(lm, dtype=np.float32)[:, :2]))
    return sorted(out, key=lambda d: -d.score)


class FanLandmarker:
    """face-alignment's S3FD detector and FAN 68 points (optional package, cached weights only)."""

    scheme = "ibug68"
    key = "face_alignment-s3fd-fan"

    def __init__(self, upsample: int = 1):  # S3FD has no upsampling
        self.upsample = upsample

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face of an RGB uint8 photo with its 68 points, best score first."""
        return detect_faces_fan(image)
