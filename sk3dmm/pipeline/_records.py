"""What each stage of photo -> coefficients hands to the next: plain frozen records, every
coordinate in the pixels of the photo as it was given (:class:`~sk3dmm.faces.Face` and
:class:`~sk3dmm.faces.Crop` live in :mod:`sk3dmm.faces`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..faces import Crop, Face, load_image, rotate_points
from ._cache import image_digest


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo: RGB uint8 pixels (EXIF orientation applied, alpha composited on white),
    where it is in the input and how messages name it, and (when asked: the cache's key)
    a digest of its content."""

    pixels: np.ndarray
    index: int
    name: str

    @classmethod
    def load(cls, item, index: int, name: str) -> Photo:
        """Read and decode one sample (raises :class:`~sk3dmm.ImageReadError` naming it)."""
        return cls(load_image(item, name), index, name)

    @functools.cached_property
    def digest(self) -> str:
        """:func:`~sk3dmm.pipeline._cache.image_digest` of the pixels."""
        return image_digest(self.pixels)


@dataclass(frozen=True, eq=False)
class Detection:
    """The face of a photo that is reconstructed.

    Attributes
    ----------
    found : Face, in the pixels the landmarker was given (the photo downscaled by ``scale``)
    scale : (2,) landmarker pixels per photo pixel (1 unless the photo was over ``max_pixels``)
    image_size : (width, height) of the photo
    n_faces : int, faces the landmarker found in the photo
    """

    found: Face
    scale: np.ndarray
    image_size: tuple[int, int]
    n_faces: int

    @property
    def face(self) -> Face:
        """The face in the photo's own pixels."""
        return self.found if (self.scale == 1.0).all() else self.found.scaled(1.0 / self.scale)


@dataclass(frozen=True, eq=False)
class Coefficients:
    """What a regressor gives for one photo; a later regressor of the method refines it.

    Attributes
    ----------
    alpha, beta : (n_id,), (n_exp,) identity and expression coefficients
    pose : (6,) yaw, pitch, roll in degrees, translation in mm; None before a fit
    angles : (3,) R-Net's own (yaw, pitch, roll) in degrees, seen in its crop, or None
    features : (c,) R-Net's pooled features (what C-Net reads), or None
    focal, center, rotation, translation : the fitted camera (translation in model units)
    fitted_landmarks : (68, 2) the fitted model's 68 landmarks, photo pixels
    reprojection_error : float, mean landmark distance in pixels
    row_from : str, ``"method"``, or ``"profile_rnet"`` where the profile R-Net replaced the
        method's row (``Reconstruct3DMM(profiles="network")``)
    """

    alpha: np.ndarray
    beta: np.ndarray
    pose: np.ndarray | None = None
    angles: np.ndarray | None = None
    features: np.ndarray | None = None
    focal: float | None = None
    center: np.ndarray | None = None
    rotation: np.ndarray | None = None
    translation: np.ndarray | None = None
    fitted_landmarks: np.ndarray | None = None
    reprojection_error: float | None = None
    row_from: str = "method"


@dataclass(frozen=True)
class Failure:
    """A photo that a stage could not process (``exception`` is None for a read failure that
    was reported as text)."""

    index: int
    name: str
    stage: str
    reason: str
    exception: BaseException | None = None


@dataclass
class Reconstruction:
    """Everything known about one reconstructed photo.

    Attributes
    ----------
    coefficients : dict of str to (d,) float32 arrays, one per block
    landmarks : (68, 2) detected landmarks, pixels
    fitted_landmarks : (68, 2) the fitted model's landmarks projected back, pixels
    box : (4,) face box, left, top, right, bottom
    score : float, detection score
    image_size : (width, height)
    focal, center : the camera used
    rotation, translation : model-to-camera pose (translation in model units)
    reprojection_error : float, mean landmark distance in pixels
    crop : (s, s, 3) uint8 or None
        The face aligned on 5 points as R-Net sees it (also kept for the landmark method: the
        photometric loss of C-Net and fine-tuning reads it).
    crop_affine : (4,) or None
        ``(sx, sy, ox, oy)``: ``crop_xy = turned_xy * (sx, sy) + (ox, oy)``, where
        ``turned_xy`` is the photo point turned by ``-crop_roll`` about ``center``.
    features : (c,) float32 or None
        R-Net's pooled backbone features of the crop (``method="rnet"``): what C-Net reads.
    crop_roll : float, default=0
        Radians the photo was turned by (about the principal point ``center``) before the
        crop: the angle of the face's eye line, so R-Net sees every face with level eyes
        (a face turned by 180 degrees gives R-Net the same crop as upright).
    mesh : (468, 3) or (478, 3) float32, or None
        MediaPipe's dense points (x, y pixels of the photo, relative depth), for
        ``detector="mediapipe"`` and ``"mediapipe_v2"``.
    n_faces : int, default=1
        Faces the detector found in the photo (one was reconstructed, see ``faces``).
    found_by : str, default=""
        Which detector found the face (``"blazeface"``, ``"retinaface"``, ``"photo"`` for the
        MediaPipe landmarkers and the cascade; ``""`` for dlib and FAN).
    mesh_score : float, default=nan
        The mesh network's face probability (MediaPipe landmarkers): a face the cascade kept
        on RetinaFace's score alone has a low one, and its points are unreliable.
    row_from : str, default="method"
        ``"profile_rnet"`` where the profile R-Net gave the row (a profile whose mesh is
        unusable, ``Reconstruct3DMM(profiles="network")``), else ``"method"``.
    """

    coefficients: dict
    landmarks: np.ndarray
    fitted_landmarks: np.ndarray
    box: np.ndarray
    score: float
    image_size: tuple[int, int]
    focal: float
    center: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    reprojection_error: float
    crop: np.ndarray | None = None
    crop_affine: np.ndarray | None = None
    features: np.ndarray | None = None
    crop_roll: float = 0.0
    mesh: np.ndarray | None = None
    n_faces: int = 1
    found_by: str = ""
    mesh_score: float = float("nan")
    row_from: str = "method"

    @classmethod
    def assemble(cls, detection: Detection, crop: Crop, coefs: Coefficients) -> Reconstruction:
        """The record of a photo from its stages' records."""
        face = detection.face
        return cls(
            coefficients={
                "alpha": coefs.alpha,
                "beta": coefs.beta,
                "pose": coefs.pose,
                "blendshape_scores": face.extras.get("blendshape_scores"),
            },
            landmarks=face.landmarks,
            fitted_landmarks=coefs.fitted_landmarks,
            box=face.box,
            score=face.score,
            image_size=detection.image_size,
            focal=float(coefs.focal),
            center=coefs.center,
            rotation=coefs.rotation,
            translation=coefs.translation,
            reprojection_error=float(coefs.reprojection_error),
            crop=crop.pixels,
            crop_affine=crop.affine_about(coefs.center),
            features=coefs.features,
            crop_roll=crop.rotation,
            mesh=face.mesh,
            n_faces=detection.n_faces,
            found_by=face.extras.get("found_by", ""),
            mesh_score=float(face.extras.get("mesh_score", float("nan"))),
            row_from=coefs.row_from,
        )

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo pixels (..., 2) to the crop's pixels (turned by ``crop_roll``, then scaled)."""
        sx, sy, ox, oy = self.crop_affine
        turned = rotate_points(points, -self.crop_roll, self.center) if self.crop_roll else points
        return turned * np.array([sx, sy]) + np.array([ox, oy])

    def crop_camera(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Focal length, principal point and the 68 landmarks in the crop's pixels (the turn
        is about the principal point, so the crop is a pinhole camera of its own)."""
        sx, sy = self.crop_affine[:2]
        return self.focal * (sx + sy) / 2, self.to_crop(self.center), self.to_crop(self.landmarks)
