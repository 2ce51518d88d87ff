"""The fixed photos of ``tests/data/reference_coefficients.npz`` (all made from
``skimage.data.astronaut()``): crops, flips, scales, gains, quarter turns, one over the pixel
budget of detection, and one with no face."""

from __future__ import annotations

import numpy as np


def reference_photos() -> list[np.ndarray]:
    from PIL import Image
    from skimage.data import astronaut

    base = astronaut()
    out = []
    for crop, flip, scale, gain in [
        (0, False, 1.0, 1.0),
        (40, False, 1.0, 0.8),
        (0, True, 0.8, 1.0),
        (60, True, 1.2, 1.1),
        (20, False, 0.9, 0.9),
    ]:
        img = base[crop : 400 + crop // 2, crop // 2 : 420 + crop]
        if flip:
            img = img[:, ::-1]
        size = (int(img.shape[1] * scale), int(img.shape[0] * scale))
        img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size))
        out.append(np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    out.append(np.ascontiguousarray(np.rot90(base, 1)))
    out.append(np.ascontiguousarray(base[::-1, ::-1]))
    out.append(np.asarray(Image.fromarray(base).resize((1600, 1600), Image.BICUBIC)))  # over max_pixels
    out.append(np.full((200, 240, 3), 128, dtype=np.uint8))  # no face
    return out
