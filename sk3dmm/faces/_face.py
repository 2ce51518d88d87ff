"""The one record of a found face (:class:`Face`), its point schemes, and which face of a photo
is reconstructed (:func:`choose_face`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..exceptions import FaceNotFoundError, MultipleFacesError

# The 68 iBUG points as MediaPipe mesh points (jaw, brows, nose, eyes, lips), by the meaning of
# MediaPipe's published mesh topology (the mapping in common use), and the one mesh -> 68 mapping
# of sk3dmm. tests/test_mediapipe.py checks it against the render-made correspondence: on the ICT
# model, each point's vertex lies within 0.13 inter-ocular distances of the model's own landmark
# vertex (0.3 on the jaw, whose iBUG points follow the silhouette where a mesh's stay on the face).
MESH_TO_68 = np.array(
    [127, 234, 132, 58, 172, 150, 176, 148, 152, 377, 400, 379, 397, 288, 361, 454, 356,
     70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
     168, 197, 5, 4, 75, 97, 2, 326, 305,
     33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
     61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
     78, 82, 13, 312, 308, 317, 14, 87],
    dtype=np.int64,
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Scheme:
    """A landmark scheme: how many points, whether they carry a depth, which are the 68 iBUG
    points (None: the points are those 68) and how many leading points a dense fit uses
    (None: all)."""

    name: str
    n_points: int
    dense: bool
    to_68: np.ndarray | None = None
    n_fitted: int | None = None

    @property
    def fitted(self) -> slice:
        """The points a dense fit uses."""
        return slice(0, self.n_fitted or self.n_points)


SCHEMES = {
    "ibug68": Scheme("ibug68", 68, dense=False),
    "mediapipe468": Scheme("mediapipe468", 468, dense=True, to_68=MESH_TO_68),
    # MediaPipe v2: the 468 points, then five per iris (468-472, 473-477). The fit leaves the
    # irises out: the model's eyeballs do not rotate, so a gaze would only bend the eyelids.
    "mediapipe478": Scheme("mediapipe478", 478, dense=True, to_68=MESH_TO_68, n_fitted=468),
}


@dataclass(frozen=True, eq=False)
class Face:
    """One found face, every point in the pixels of the photo it was found in.

    Attributes
    ----------
    box : (4,) left, top, right, bottom
    score : float, the detector's confidence (HOG: SVM margin; CNN: MMOD; MediaPipe: sigmoid)
    points : (n, 2) or (n, 3) the landmarker's points in its ``scheme`` (dense schemes carry a
        relative depth in pixels, smaller is nearer)
    scheme : str, a key of :data:`SCHEMES`: ``"ibug68"`` (dlib, FAN), ``"mediapipe468"`` or
        ``"mediapipe478"`` (MediaPipe v2, irises included)
    keypoints : (k, 2) or None, the detector's own keypoints (MediaPipe: eyes, nose tip, mouth,
        ear tragions)
    extras : mapping, what else a landmarker measures (MediaPipe: ``"mesh_score"``; v2 also
        ``"blendshape_scores"``, its 52 scores)
    """

    box: np.ndarray
    score: float
    points: np.ndarray
    scheme: str = "ibug68"
    keypoints: np.ndarray | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown landmark scheme {self.scheme!r}; known: {sorted(SCHEMES)}")

    @property
    def landmarks(self) -> np.ndarray:
        """(68, 2) the iBUG-68 points (for a dense scheme, its points nearest them)."""
        to_68 = SCHEMES[self.scheme].to_68
        return self.points[:, :2] if to_68 is None else self.points[to_68, :2].copy()

    @property
    def mesh(self) -> np.ndarray | None:
        """(n, 3) the dense points of a dense scheme, else None."""
        return self.points if SCHEMES[self.scheme].dense else None

    def scaled(self, scale_xy: np.ndarray) -> Face:
        """The face in the pixels of the photo resized by ``scale_xy`` (x, y factors): every
        point set, a depth with the mean of the two factors."""
        sxy = np.asarray(scale_xy, dtype=np.float64)
        factors = np.r_[sxy, sxy.mean()][: self.points.shape[1]]
        return Face(
            box=(self.box * np.tile(sxy, 2)).astype(np.float32),
            score=self.score,
            points=(self.points * factors).astype(np.float32),
            scheme=self.scheme,
            keypoints=None if self.keypoints is None else (self.keypoints * sxy).astype(np.float32),
            extras=self.extras,
        )


FACE_CHOICES = ("largest", "central", "refuse")


def choose_face(faces: list[Face], rule: str = "largest", name: str = "image", image_size=None) -> Face:
    """The face a photo is reconstructed from.

    Parameters
    ----------
    faces : the faces found in one photo
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


def largest_face(faces: list[Face], name: str = "image") -> Face:
    """The face with the largest box (the subject of a portrait), or FaceNotFoundError."""
    return choose_face(faces, "largest", name)
