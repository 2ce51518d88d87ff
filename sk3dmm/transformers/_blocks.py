"""Coefficient blocks (alpha, beta, pose) and their feature names."""

from __future__ import annotations

import numpy as np

from ..fitting import LandmarkFit
from ..morphable import MorphableModel

BLOCKS = ("alpha", "beta", "pose")


def normalize_coef(coef: str | tuple | list) -> tuple[str, ...]:
    """``"alpha"`` or ``("alpha", "beta")`` to a validated tuple of block names."""
    blocks = (coef,) if isinstance(coef, str) else tuple(coef)
    bad = [b for b in blocks if b not in BLOCKS]
    if not blocks or bad:
        raise ValueError(f"coef must name blocks among {BLOCKS}, got {coef!r}")
    if len(set(blocks)) != len(blocks):
        raise ValueError(f"coef names a block twice: {coef!r}")
    return blocks


def feature_names(model: MorphableModel, blocks: tuple[str, ...]) -> np.ndarray:
    return np.array([name for b in blocks for name in model.coef_names(b)], dtype=object)


def fit_to_blocks(fit: LandmarkFit, model: MorphableModel) -> dict[str, np.ndarray]:
    """Every block of a batch fit as float32 numpy arrays; angles in degrees, translation in mm."""
    pose = np.concatenate(
        [
            np.rad2deg(np.stack([fit.yaw.cpu().numpy(), fit.pitch.cpu().numpy(), fit.roll.cpu().numpy()], 1)),
            fit.translation.cpu().numpy() * model.unit_mm,
        ],
        1,
    )
    return {
        "alpha": fit.alpha.cpu().numpy().astype(np.float32),
        "beta": fit.beta.cpu().numpy().astype(np.float32),
        "pose": pose.astype(np.float32),
    }
