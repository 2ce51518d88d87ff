"""Faces for MediaPipe v2's mesh from other sources than BlazeFace: RetinaFace's boxes
(``detector="retinaface"``), BlazeFace then RetinaFace where it found nothing
(``detector="cascade"``), and the whole photo for photos known to hold one face
(``detector="none"``).

BlazeFace, made for faces near the camera and facing it, misses or misplaces many half and full
profiles; RetinaFace (:mod:`sk3dmm.faces._retinaface`, trained on WIDER FACE) finds them. The
mesh network reads a region drawn from a BlazeFace-like box, so a RetinaFace box is first turned
into one (:func:`blazeface_like`): on 140 CC BY webmorph portraits (not the evaluation pairs) BlazeFace's square side is
0.885 x RetinaFace's box height (sd 0.04; the width varies twice as much and shrinks on
profiles) and its centre 0.025 heights lower; the region turns with the face's eyes-to-mouth
axis. ``Face.box`` and ``Face.keypoints`` are RetinaFace's own. Every face says in
``extras["found_by"]`` which source found it (``"blazeface"``, ``"retinaface"``, ``"photo"``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .._face import Face
from .._retinaface import RetinaFace
from ._mediapipe import MediaPipeLandmarker, runtime_suffix
from ._mediapipe_v2 import (
    BLENDSHAPES_FILE,
    MESH_V2_FILE,
    MediaPipeFaceLandmarkerV2,
    MediaPipeV2Landmarker,
    default_face_landmarker_v2,
)

BLAZEFACE_SIDE_PER_HEIGHT = 0.885
BLAZEFACE_CENTRE_DROP = 0.025  # heights
RETINAFACE_LONG_SIDE = 320  # AFLW2000-3D beyond 60 deg: 14.8% NME at 320 px, 15.7% at 640 (450 px photos)
MIN_MESH_SCORE = 0.05  # a RetinaFace face is kept if its mesh says face with this probability...
# ...or RetinaFace is this sure (its authors' display threshold): profiles the mesh was not made for
KEEP_SCORE = 0.6
MIN_FACE_PIXELS = 20  # RetinaFace boxes smaller than this in the photo are dropped (retinaface_faces)

MESH_FILES = (MESH_V2_FILE, BLENDSHAPES_FILE)


def unusable_mesh(face: Face) -> bool:
    """Whether a face's mesh points are not to be fitted: RetinaFace found it and the mesh
    network's face probability is under ``MIN_MESH_SCORE`` (the cascade keeps such faces on
    RetinaFace's score; ``Reconstruct3DMM(profiles="network")`` gives them the profile R-Net's
    row where it sees a profile)."""
    extras = face.extras or {}
    return extras.get("found_by") == "retinaface" and extras.get("mesh_score", 1.0) < MIN_MESH_SCORE


def blazeface_like(
    found: list[tuple[np.ndarray, float, np.ndarray]],
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """RetinaFace's (box, score, 5 keypoints) as the square box BlazeFace would draw, with two
    points whose line gives the mesh region's roll: level with the face's own axis, the
    perpendicular of the line from the eyes' midpoint to the mouth's. On a profile the two eyes
    are a few pixels apart and their line can be steep on an upright face; the eyes-to-mouth
    axis is not (AFLW2000-3D beyond 60 deg: 12.6% NME against 15.7% with the eye line, faces
    over 20%: 32 against 68 of 305)."""
    out = []
    for box, score, points in found:
        height = box[3] - box[1]
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + BLAZEFACE_CENTRE_DROP * height])
        half = BLAZEFACE_SIDE_PER_HEIGHT * height / 2
        eyes, mouth = points[:2].mean(0), points[3:5].mean(0)
        down = (mouth - eyes) / max(float(np.linalg.norm(mouth - eyes)), 1e-6)
        across = np.array([down[1], -down[0]])  # the eye line (photo-left eye first) of that axis
        out.append((np.r_[centre - half, centre + half], score, np.stack([eyes - across, eyes + across])))
    return out


def retinaface_faces(
    mesh: MediaPipeFaceLandmarkerV2,
    retinaface: RetinaFace,
    images: list[np.ndarray],
    min_mesh_score: float = MIN_MESH_SCORE,
    keep_score: float = KEEP_SCORE,
) -> list[list[Face]]:
    """The mesh on RetinaFace's faces of each photo (``Face.box``: RetinaFace's own box), kept
    where the mesh's face probability is at least ``min_mesh_score`` or RetinaFace's score at
    least ``keep_score``. Boxes under ``MIN_FACE_PIXELS`` a side in the photo are dropped: a
    photo smaller than the network's input is enlarged for it, and in an enlarged speck of noise
    RetinaFace may see a face (a 10 x 17 random photo: 0.87), where no mesh could be fitted."""
    found = [
        [(b, s, k) for b, s, k in f if min(b[2] - b[0], b[3] - b[1]) >= MIN_FACE_PIXELS]
        for f in retinaface.detect_boxes(images)
    ]
    like = [blazeface_like(f) for f in found]
    shown = [[(b, k) for b, _, k in f] for f in found]
    faces = mesh.faces_in(images, like, "retinaface", 0.0, shown=shown)
    return [
        [f for f in fs if f.extras["mesh_score"] >= min_mesh_score or f.score >= keep_score] for fs in faces
    ]


class RetinaFaceMeshLandmarker(MediaPipeLandmarker):
    """RetinaFace MobileNet-0.25 (on the photo at 320 px long side) for the boxes, MediaPipe
    v2's 478-point mesh and blendshape scores in them (scheme ``"mediapipe478"``). A face is
    kept where the mesh's face probability is at least 0.05 or RetinaFace's score at least 0.6:
    on profiles the mesh network often says "no face" where there is one (then its points are
    unreliable: ``extras["mesh_score"]`` says so).

    Parameters
    ----------
    upsample : int, default=1
        Ignored.
    """

    scheme = "mediapipe478"
    gives_blendshapes = True

    @property
    def key(self) -> str:
        return (
            f"retinaface-mnet025-{RETINAFACE_LONG_SIDE}|min{MIN_FACE_PIXELS}px|roll=eyes-mouth"
            f"|mesh478-blendshapes52|keep{MIN_MESH_SCORE}|{KEEP_SCORE}" + runtime_suffix(*MESH_FILES)
        )

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face of an RGB uint8 photo, best RetinaFace score first."""
        return retinaface_faces(default_face_landmarker_v2(), _retinaface(), [image])[0]


class CascadeLandmarker(RetinaFaceMeshLandmarker):
    """BlazeFace and MediaPipe v2's mesh (exactly ``detector="mediapipe_v2"``); where they keep
    no face, RetinaFace's boxes and the same mesh. Finds what either finds, at BlazeFace's cost
    on the photos BlazeFace handles."""

    @property
    def key(self) -> str:
        return f"cascade|{MediaPipeV2Landmarker().key}|{RetinaFaceMeshLandmarker().key}"

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face of an RGB uint8 photo (``extras["found_by"]`` says which detector)."""
        faces = default_face_landmarker_v2().detect([image])[0]
        return faces or super().detect(image)


class WholePhotoLandmarker(MediaPipeLandmarker):
    """No detection: the photo is taken to be one face (a passport-style or pre-cropped
    portrait). The mesh reads the whole photo, then twice the region its own points span
    (MediaPipe's tracking step), so the face need not fill the photo; a photo whose mesh
    says "no face" (probability under 0.05) has no face. ``Face.box`` is the whole photo."""

    scheme = "mediapipe478"
    gives_blendshapes = True

    @property
    def key(self) -> str:
        return f"photo|mesh478-blendshapes52|refine2|score{MIN_MESH_SCORE}" + runtime_suffix(*MESH_FILES)

    def detect(self, image: np.ndarray) -> list[Face]:
        """The photo's one face, or none."""
        h, w = image.shape[:2]
        side = max(h, w) / 1.5  # the mesh's region is 1.5 x the box: the whole photo
        centre = np.array([w / 2, h / 2])
        eyes = centre + np.array([[-1.0, 0.0], [1.0, 0.0]])  # level
        box = np.r_[centre - side / 2, centre + side / 2]
        whole = np.array([0, 0, w, h], dtype=np.float64)
        mesh = default_face_landmarker_v2()
        return mesh.faces_in([image], [[(box, 1.0, eyes)]], "photo", MIN_MESH_SCORE, 2, [[(whole, None)]])[0]


@lru_cache(maxsize=1)
def _retinaface() -> RetinaFace:
    return RetinaFace(long_side=RETINAFACE_LONG_SIDE)
