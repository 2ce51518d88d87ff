"""The 5 points Deep3DFaceRecon aligns on, and the similarity crop to 224 x 224."""

from __future__ import annotations

import numpy as np


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from 68 landmarks, as Deep3DFaceRecon does.

    Eye centres average points 37-42 and 43-48 (1-based: 37/40 corners and lids), the nose
    is point 31 and the mouth corners 49 and 55.

    Parameters
    ----------
    landmarks68 : (..., 68, 2)

    Returns
    -------
    (..., 5, 2): left-of-image eye, right-of-image eye, nose, left mouth corner, right mouth corner
    """
    lm = np.asarray(landmarks68)
    return np.stack(
        [
            lm[..., 36:42, :].mean(-2),
            lm[..., 42:48, :].mean(-2),
            lm[..., 30, :],
            lm[..., 48, :],
            lm[..., 54, :],
        ],
        -2,
    )
