"""The per-photo stages before regression: find the face (a landmarker of
:mod:`sk3dmm.faces.landmarkers`, on the photo downscaled to the pixel budget) and crop it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..faces import (
    Crop,
    choose_face,
    downscaled,
    downscaled_shape,
    five_as_68,
    five_point_crop,
    get_landmarker,
    unusable_mesh,
)
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
    turned, as the profile R-Net was trained. With ``pixels=False`` only the crops the profile
    R-Net reads are sampled; the others keep their geometry alone (``pixels`` None): the photo's
    resampling is most of a crop's time, and a method without R-Net reads no pixels."""

    template5: np.ndarray
    size: int
    rescale: float
    max_pixels: int
    profiles: str = "fit"
    pixels: bool = True
    name = "the crop"

    @property
    def key(self) -> str:
        template = hashlib.blake2b(np.asarray(self.template5, dtype=np.float64).tobytes(), digest_size=8)
        key = (
            f"crop|template={template.hexdigest()}|{self.size}|{self.rescale!r}|max_pixels={self.max_pixels}"
        )
        key += "|unusable-mesh=keypoints" if self.profiles == "network" else ""
        return key + ("" if self.pixels else "|pixels=profiles")

    def __call__(self, photo: Photo, detection: Detection) -> Crop:
        spec, found = (self.template5, self.size, self.rescale), detection.found
        profile = self.profiles == "network" and unusable_mesh(found)
        if profile or self.pixels:
            image, scale = downscaled(photo.pixels, self.max_pixels)
            points = five_as_68(found.keypoints) if profile else found.landmarks
            crop = five_point_crop(image, points, spec, level=not profile)
        else:
            shape, scale = downscaled_shape(photo.pixels.shape, self.max_pixels)  # what the landmarker saw
            crop = five_point_crop(shape, found.landmarks, spec, pixels=False)
        return crop if (scale == 1.0).all() else crop.scaled(1.0 / scale)
