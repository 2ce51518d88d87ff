"""dlib's face detectors (HOG, CNN) with its 68-point predictor, from the CC0
``face_recognition_models`` package."""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...exceptions import ModelFileError
from .._face import Face


def models_dir() -> Path:
    """Folder of the ``face_recognition_models`` package, found without importing it."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            "the face_recognition_models package is not installed (pip install face_recognition_models)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _model_file(name: str) -> str:
    path = models_dir() / name
    if not path.is_file() or path.stat().st_size < 1000:
        raise ModelFileError(
            f"dlib model file {path} is missing or truncated; reinstall face_recognition_models"
        )
    return str(path)


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _detector(kind: str):
    import dlib

    if kind == "hog":
        return dlib.get_frontal_face_detector()
    if kind == "cnn":
        return dlib.cnn_face_detection_model_v1(_model_file("mmod_human_face_detector.dat"))
    raise ValueError(f"unknown dlib detector {kind!r}")


@lru_cache(maxsize=2)
def _predictor(n_points: int):
    import dlib

    name = {68: "shape_predictor_68_face_landmarks.dat", 5: "shape_predictor_5_face_landmarks.dat"}[n_points]
    try:
        return dlib.shape_predictor(_model_file(name))
    except RuntimeError as exc:
        raise ModelFileError(f"dlib cannot read {name}: {exc}") from exc


class DlibLandmarker:
    """dlib's HOG+SVM detector (``kind="hog"``: fast, frontal to about 45 degrees of yaw) or its
    MMOD CNN (``"cnn"``: slower on CPU, more robust to pose), each with dlib's 68-point predictor.
    Both are made for upright faces: their points drift beyond about 20 degrees of roll.

    Parameters
    ----------
    kind : {"hog", "cnn"}
    upsample : int, default=1
        Times to upsample before detecting (finds smaller faces, costs time).
    """

    scheme = "ibug68"

    def __init__(self, kind: str = "hog", upsample: int = 1):
        self.kind = kind
        self.upsample = upsample
        self.key = f"dlib-{kind}-upsample{upsample}"

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face of an RGB uint8 photo with its 68 points, best score first."""
        det = _detector(self.kind)
        with _lock:  # dlib objects are not documented as thread-safe
            if self.kind == "hog":
                rects, scores, _ = det.run(image, self.upsample, 0.0)
                found = list(zip(rects, scores))
            else:
                found = [(d.rect, d.confidence) for d in det(image, self.upsample)]
            predictor = _predictor(68)
            out = []
            for rect, score in found:
                shape = predictor(image, rect)
                pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
                box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float32)
                out.append(Face(box=box, score=float(score), points=pts))
        return sorted(out, key=lambda d: -d.score)


def hog_landmarker(upsample: int = 1) -> DlibLandmarker:
    """dlib's HOG detector and 68-point predictor."""
    return DlibLandmarker("hog", upsample)


def cnn_landmarker(upsample: int = 1) -> DlibLandmarker:
    """dlib's MMOD CNN detector and 68-point predictor."""
    return DlibLandmarker("cnn", upsample)
