"""Photo degradations for set experiments: occlusion and blur, with a record of what was done."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state


def degrade_photos(images, fraction: float = 0.3, random_state=None) -> tuple[np.ndarray, pd.DataFrame]:
    """Occlude (a grey block over part of the face) or blur a random ``fraction`` of photos.

    Parameters
    ----------
    images : (n, h, w, 3) uint8
    fraction : float, default=0.3
        Share of photos degraded; half of them occluded, half blurred.
    random_state : int, RandomState or None

    Returns
    -------
    images : degraded copy
    frame : DataFrame with a ``degradation`` column ("none", "occluded", "blurred")
    """
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
    out = np.array(images, copy=True)
    n, h, w = out.shape[:3]
    kind = np.full(n, "none", dtype=object)
    chosen = rng.permutation(n)[: int(round(fraction * n))]
    for j, i in enumerate(chosen):
        if j % 2 == 0:
            bh, bw = int(h * rng.uniform(0.2, 0.35)), int(w * rng.uniform(0.25, 0.45))
            y0 = int(h * rng.uniform(0.3, 0.65))
            x0 = int(w * rng.uniform(0.2, 0.8)) - bw // 2
            out[i, y0 : y0 + bh, max(0, x0) : x0 + bw] = rng.integers(40, 200)
            kind[i] = "occluded"
        else:
            radius = rng.uniform(2.0, 3.5) * h / 256
            out[i] = np.asarray(Image.fromarray(out[i]).filter(ImageFilter.GaussianBlur(radius)))
            kind[i] = "blurred"
    return out, pd.DataFrame({"degradation": kind})
