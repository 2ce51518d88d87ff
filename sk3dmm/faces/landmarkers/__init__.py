"""Landmarkers: photo in, faces out. One module each, one line each in :data:`LANDMARKERS`.

A landmarker is any object with a ``scheme`` (a key of :data:`sk3dmm.faces.SCHEMES`), a
``key`` (a string that changes whenever its points would) and ``detect(image) -> list[Face]``
(RGB uint8 in, every face with its points in the photo's pixels, best score first). It is built
as ``factory(upsample=...)``. ``Reconstruct3DMM(detector=name)`` looks the name up here;
:func:`register_landmarker` adds one of your own.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from .._face import Face

LANDMARKERS: dict[str, str | Callable] = {
    "mediapipe": "sk3dmm.faces.landmarkers._mediapipe:MediaPipeLandmarker",
    "mediapipe_v2": "sk3dmm.faces.landmarkers._mediapipe_v2:MediaPipeV2Landmarker",
    "retinaface": "sk3dmm.faces.landmarkers._retinaface:RetinaFaceMeshLandmarker",
    "cascade": "sk3dmm.faces.landmarkers._retinaface:CascadeLandmarker",
    "none": "sk3dmm.faces.landmarkers._retinaface:WholePhotoLandmarker",
    "hog": "sk3dmm.faces.landmarkers._dlib:hog_landmarker",
    "cnn": "sk3dmm.faces.landmarkers._dlib:cnn_landmarker",
    "face_alignment": "sk3dmm.faces.landmarkers._face_alignment:FanLandmarker",
}


class Landmarker(Protocol):
    """What ``detector=`` names: a photo's faces with their points."""

    scheme: str
    key: str

    def detect(self, image: np.ndarray) -> list[Face]: ...


def register_landmarker(name: str, factory: Callable[..., Landmarker] | str) -> None:
    """Make ``Reconstruct3DMM(detector=name)`` use ``factory(upsample=...)`` (a class, a
    function, or ``"module:attribute"`` imported on first use)."""
    LANDMARKERS[name] = factory
    _built.clear()


_built: dict[tuple, Landmarker] = {}
_lock = threading.Lock()


def landmarker_factory(name: str) -> Callable[..., Landmarker]:
    """The factory registered as ``name`` (imported on first use), or a ValueError."""
    if name not in LANDMARKERS:
        raise ValueError(f"unknown detector {name!r}; registered: {sorted(LANDMARKERS)}")
    factory = LANDMARKERS[name]
    if isinstance(factory, str):
        module, attribute = factory.split(":")
        factory = getattr(importlib.import_module(module), attribute)
    return factory


def gives_blendshapes(name: str) -> bool:
    """Whether the landmarker ``name`` puts blendshape scores in ``Face.extras["blendshape_scores"]``
    (its factory says so with ``gives_blendshapes = True``)."""
    return bool(getattr(landmarker_factory(name), "gives_blendshapes", False))


def get_landmarker(name: str, upsample: int = 1) -> Landmarker:
    """The landmarker registered as ``name``, built once per process and setting (so each
    joblib worker loads its models once)."""
    with _lock:
        if (name, upsample) not in _built:
            _built[name, upsample] = landmarker_factory(name)(upsample=upsample)
        return _built[name, upsample]


def detect_faces(image: np.ndarray, detector: str = "hog", upsample: int = 1) -> list[Face]:
    """All faces in an RGB uint8 image with their points, best score first.

    Parameters
    ----------
    image : (H, W, 3) uint8
    detector : a name of :data:`LANDMARKERS`
        ``"hog"`` / ``"cnn"``: dlib's HOG or CNN detector with its 68-point predictor;
        ``"mediapipe"``: MediaPipe's BlazeFace and 468-point face mesh (embedded, in torch,
        5.6x faster than HOG on AFLW2000-3D; ``upsample`` is ignored); ``"mediapipe_v2"``:
        MediaPipe's Face Landmarker v2 (478 points and 52 blendshape scores in
        ``Face.extras["blendshape_scores"]``); ``"cascade"`` (the default of ``Reconstruct3DMM``):
        ``"mediapipe_v2"``, and RetinaFace's boxes with the same mesh where it keeps no face;
        ``"retinaface"``: RetinaFace's boxes for every photo; ``"none"``: the whole photo as
        one face; ``Face.extras["found_by"]`` names the detector; ``"face_alignment"``:
        the optional face-alignment package (S3FD + FAN) when its weights are already cached.
    upsample : int
        Times to upsample before detecting (finds smaller faces, costs time).
    """
    return get_landmarker(detector, upsample).detect(image)


def models_dir():
    """Folder of the ``face_recognition_models`` package (dlib's model files), found without
    importing it."""
    from ._dlib import models_dir as folder

    return folder()


__all__ = [
    "LANDMARKERS",
    "Landmarker",
    "detect_faces",
    "get_landmarker",
    "gives_blendshapes",
    "landmarker_factory",
    "models_dir",
    "register_landmarker",
]
