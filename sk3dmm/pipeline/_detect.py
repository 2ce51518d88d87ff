"""The per-photo stages before regression: find the face (a landmarker of
:mod:`sk3dmm.faces.landmarkers`, on the photo downscaled to the pixel budget) and crop it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..faces import Crop, choose_face, downscaled, five_as_68, five_point_crop, get_landmarker, unusable_mesh
from ._policy import one_torch_thread
from ._records import Detection, Photo


@dataclass(frozen=True)
class DetectFace:
    """Photo -> :class:`Detection`: the landmarker ``detector`` on the photo shrunk to at most
    ``max_pixels``, and the face that ``faces`` chooses (see :func:`~sk3dmm.faces.choose_face`)."""

    detector: str
    upsample: int
    max_pixels: int
    faces: str
    name = "detection"

    @property
    def key(self) -> str:
        landmarker = get_landmarker(self.detector, self.upsample)
        return f"detect|{landmarker.key}|max_pixels={self.max_pixels}|faces={self.faces}"

    def __call__(self, photo: Photo) -> Detection:
        small, scale = downscaled(photo.pixels, self.max_pixels)
        with one_torch_thread():
            faces = get_landmarker(self.detector, self.upsample).detect(small)
        face = choose_face(faces, self.faces, photo.name, small.shape[1::-1])
        return Detection(face, scale, (photo.pixels.shape[1], photo.pixels.shape[0]), len(faces))


@dataclass(frozen=True)
class CropFace:
    """Photo and its :class:`Detection` -> the 5-point :class:`~sk3dmm.faces.Crop` R-Net reads
    (turned level; made on the pixels the landmarker saw, mapped back to the photo's). With
    ``profiles="network"``, a face whose mesh is unusable (see
    :func:`sk3dmm.faces.unusable_mesh`) is cropped on its detector's five keypoints and not
    turned, as the profile R-Net was trained."""

    template5: np.ndarray
    size: int
    rescale: float
    max_pixels: int
    profiles: str = "fit"
    name = "the crop"

    @property
    def key(self) -> str:
        template = hashlib.blake2b(np.asarray(self.template5, dtype=np.float64).tobytes(), digest_size=8)
        key = (
            f"crop|template={template.hexdigest()}|{self.size}|{self.rescale!r}|max_pixels={self.max_pixels}"
        )
        return key + ("|unusable-mesh=keypoints" if self.profiles == "network" else "")

    def __call__(self, photo: Photo, detection: Detection) -> Crop:
        small, scale = downscaled(photo.pixels, self.max_pixels)
        spec, found = (self.template5, self.size, self.rescale), detection.found
        if self.profiles == "network" and unusable_mesh(found):
            crop = five_point_crop(small, five_as_68(found.keypoints), spec, level=False)
        else:
            crop = five_point_crop(small, found.landmarks, spec)
        return crop if (scale == 1.0).all() else crop.scaled(1.0 / scale)
