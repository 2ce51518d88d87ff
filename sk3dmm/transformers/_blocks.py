"""Coefficient blocks (alpha, beta, pose, and MediaPipe's raw blendshape scores) and their
feature names."""

from __future__ import annotations

import numpy as np

from ..faces import MEDIAPIPE_BLENDSHAPES
from ..morphable import MorphableModel

BLOCKS = ("alpha", "beta", "pose", "blendshape_scores")


def normalize_coef(coef: str | tuple | list) -> tuple[str, ...]:
    """``"alpha"`` or ``("alpha", "beta")`` to a validated tuple of block names."""
    blocks = (coef,) if isinstance(coef, str) else tuple(coef)
    bad = [b for b in blocks if b not in BLOCKS]
    if not blocks or bad:
        raise ValueError(f"coef must name blocks among {BLOCKS}, got {coef!r}")
    if len(set(blocks)) != len(blocks):
        raise ValueError(f"coef names a block twice: {coef!r}")
    return blocks


def block_names(model: MorphableModel, block: str) -> list[str]:
    """The feature names of one block (``blendshapes``: ``blendshape_<MediaPipe's name>``)."""
    if block == "blendshape_scores":
        return [f"blendshape_{name}" for name in MEDIAPIPE_BLENDSHAPES]
    return model.coef_names(block)


def feature_names(model: MorphableModel, blocks: tuple[str, ...]) -> np.ndarray:
    return np.array([name for b in blocks for name in block_names(model, b)], dtype=object)
