"""The fixed photos of ``tests/data/reference_coefficients.npz`` (all made from
``skimage.data.astronaut()``): crops, flips, scales, gains, quarter turns, one over the pixel
budget of detection, and one with no face."""

from __future__ import annotations

import numpy as np


def astronaut_variant(base: np.ndarray, crop: int, flip: bool, scale: float, gain: float) -> np.ndarray:
    """The astronaut cropped (by ``crop`` px, about the face), mirrored, resized and brightened."""
    from PIL import Image

    img = base[crop : 400 + crop // 2, crop // 2 : 420 + crop]
    if flip:
        img = img[:, ::-1]
    size = (int(img.shape[1] * scale), int(img.shape[0] * scale))
    img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size))
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


VARIANTS = [  # crop, flip, scale, gain
    (0, False, 1.0, 1.0),
    (40, False, 1.0, 0.8),
    (0, True, 0.8, 1.0),
    (60, True, 1.2, 1.1),
    (20, False, 0.9, 0.9),
    (30, True, 1.0, 1.2),
    (10, False, 1.1, 0.7),
    (50, True, 0.9, 1.0),
]


def reference_photos() -> list[np.ndarray]:
    from PIL import Image
    from skimage.data import astronaut

    base = astronaut()
    out = [astronaut_variant(base, *v) for v in VARIANTS[:5]]
    out.append(np.ascontiguousarray(np.rot90(base, 1)))
    out.append(np.ascontiguousarray(base[::-1, ::-1]))
    out.append(np.asarray(Image.fromarray(base).resize((1600, 1600), Image.BICUBIC)))  # over max_pixels
    out.append(np.full((200, 240, 3), 128, dtype=np.uint8))  # no face
    return out
