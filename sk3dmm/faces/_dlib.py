"""Face detection and 68-point landmarks with dlib and the CC0 ``face_recognition_models``."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..exceptions import FaceNotFoundError, ModelFileError, MultipleFacesError


@dataclass
class FaceDetection:
    """One detected face.

    Attributes
    ----------
    box : (4,) array, left, top, right, bottom in pixels
    score : float
        Detector confidence (HOG: SVM margin; CNN: MMOD score).
    landmarks : (68, 2) array, x, y in pixels, dlib / iBUG-68 order
    mesh : (468, 3) array or None
        MediaPipe's face mesh (x, y pixels, relative depth) for ``detector="mediapipe"``;
        ``landmarks`` are then its points nearest the 68 (``sk3dmm.faces.MESH_TO_68``).
    keypoints : (6, 2) array or None
        MediaPipe's detector keypoints (eyes, nose tip, mouth, ear tragions), pixels.

    Every point set is in the pixels of the photo that was given (see :meth:`scaled`).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    mesh: np.ndarray | None = None
    keypoints: np.ndarray | None = None

    def scaled(self, scale_xy: np.ndarray) -> FaceDetection:
        """The detection in the pixels of the photo resized by ``scale_xy`` (x, y factors):
        every point set, the mesh's depth with the mean of the two factors."""
        sxy = np.asarray(scale_xy, dtype=np.float64)
        mesh = None
        if self.mesh is not None:
            mesh = self.mesh * np.r_[sxy, sxy.mean()]
        return FaceDetection(
            box=(self.box * np.tile(sxy, 2)).astype(np.float32),
            score=self.score,
            landmarks=(self.landmarks * sxy).astype(np.float32),
            mesh=None if mesh is None else mesh.astype(np.float32),
            keypoints=None if self.keypoints is None else (self.keypoints * sxy).astype(np.float32),
        )


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
    raise ValueError(f"unknown detector {kind!r}; use 'hog', 'cnn' or 'mediapipe'")


@lru_cache(maxsize=2)
def _predictor(n_points: int):
    import dlib

    name = {68: "shape_predictor_68_face_landmarks.dat", 5: "shape_predictor_5_face_landmarks.dat"}[n_points]
    try:
        return dlib.shape_predictor(_model_file(name))
    except RuntimeError as exc:
        raise ModelFileError(f"dlib cannot read {name}: {exc}") from exc


def detect_faces(image: np.ndarray, detector: str = "hog", upsample: int = 1) -> list[FaceDetection]:
    """All faces in an RGB uint8 image with their 68 landmarks, best score first.

    Parameters
    ----------
    image : (H, W, 3) uint8
    detector : {"hog", "cnn", "mediapipe", "face_alignment"}
        dlib's HOG+SVM detector (fast, frontal to about 45 degrees of yaw) or its MMOD CNN
        (slower on CPU, more robust to pose), each with dlib's 68-point predictor;
        ``"mediapipe"``: MediaPipe's BlazeFace and 468-point face mesh (embedded, in torch,
        5.6x faster than HOG on AFLW2000-3D; ``upsample`` is ignored); ``"face_alignment"`` uses the
        optional face-alignment package (S3FD + FAN) when its weights are already cached.
    upsample : int
        Times to upsample before detecting (finds smaller faces, costs time).
    """
    if detector == "face_alignment":
        from ._face_alignment import detect_faces_fan

        return detect_faces_fan(image)
    if detector == "mediapipe":
        from ._mediapipe import MESH_TO_68, default_face_mesh

        return [
            FaceDetection(
                box=f.box,
                score=f.score,
                landmarks=f.mesh[MESH_TO_68, :2].copy(),
                mesh=f.mesh,
                keypoints=f.keypoints,
            )
            for f in default_face_mesh().detect([image])[0]
        ]
    det = _detector(detector)
    with _lock:  # dlib objects are not documented as thread-safe
        if detector == "hog":
            rects, scores, _ = det.run(image, upsample, 0.0)
            found = list(zip(rects, scores))
        else:
            found = [(d.rect, d.confidence) for d in det(image, upsample)]
        predictor = _predictor(68)
        out = []
        for rect, score in found:
            shape = predictor(image, rect)
            pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float32)
            out.append(FaceDetection(box=box, score=float(score), landmarks=pts))
    return sorted(out, key=lambda d: -d.score)


FACE_CHOICES = ("largest", "central", "refuse")


def largest_face(faces: list[FaceDetection], name: str = "image") -> FaceDetection:
    """The face with the largest box (the subject of a portrait), or FaceNotFoundError."""
    return choose_face(faces, "largest", name)


def choose_face(
    faces: list[FaceDetection], rule: str = "largest", name: str = "image", image_size=None
) -> FaceDetection:
    """The face a photo is reconstructed from.

    Parameters
    ----------
    faces : the detections of one photo
    rule : {"largest", "central", "refuse"}
        ``"largest"``: the largest box (the subject of a portrait; ties: the first, i.e. the
        best detector score); ``"central"``: the box whose centre is nearest the photo's
        centre (needs ``image_size``); ``"refuse"``: a photo with more than one face fails
        with :class:`~sk3dmm.MultipleFacesError`.
    name : how to name the photo in errors
    image_size : (width, height), for ``"central"``

    Raises
    ------
    FaceNotFoundError
        No face; MultipleFacesError for ``"refuse"`` and several faces.
    """
    if not faces:
        raise FaceNotFoundError(f"{name}: no face detected")
    if rule == "refuse" and len(faces) > 1:
        raise MultipleFacesError(f"{name}: {len(faces)} faces detected (faces='refuse')")
    if rule == "central":
        if image_size is None:
            raise ValueError("choose_face(rule='central') needs image_size")
        centre = np.asarray(image_size, dtype=np.float64) / 2
        dist = [np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre) for f in faces]
        return faces[int(np.argmin(dist))]
    if rule not in FACE_CHOICES:
        raise ValueError(f"faces must be one of {FACE_CHOICES}, got {rule!r}")
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    return faces[int(np.argmax(areas))]
