"""A parametric albedo for models without a texture basis (the ICT model).

Regions come from the mean mesh: skin everywhere, lips inside the outer-lip landmark polygon,
brows along the brow landmarks, eyeballs split into sclera, iris and pupil by the angle from
their forward axis, and a dark mouth socket. Colours are parameters, drawn per identity from
plausible ranges by :func:`random_albedo_params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..morphable import MorphableModel

SKIN_TONES = np.array(
    [
        [0.95, 0.80, 0.70],
        [0.90, 0.71, 0.58],
        [0.80, 0.60, 0.46],
        [0.66, 0.46, 0.33],
        [0.48, 0.32, 0.22],
        [0.33, 0.22, 0.16],
    ]
)
IRIS_COLORS = np.array([[0.30, 0.18, 0.09], [0.22, 0.35, 0.55], [0.30, 0.40, 0.22], [0.45, 0.32, 0.15]])


@dataclass
class AlbedoParams:
    """Colours (RGB in [0, 1]) of one face's albedo."""

    skin: np.ndarray
    lips: np.ndarray
    brows: np.ndarray
    iris: np.ndarray
    sclera: np.ndarray
    mouth: np.ndarray


def random_albedo_params(rng: np.random.Generator) -> AlbedoParams:
    """Draw a skin tone along a light-to-dark palette, lips, brows and iris to match."""
    t = rng.uniform(0, len(SKIN_TONES) - 1)
    i = int(t)
    skin = SKIN_TONES[i] * (1 - (t - i)) + SKIN_TONES[min(i + 1, len(SKIN_TONES) - 1)] * (t - i)
    skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 1)
    lips = np.clip(skin * np.array([0.92, 0.62, 0.62]) * rng.uniform(0.85, 1.0), 0, 1)
    brows = np.clip(skin * rng.uniform(0.3, 0.55), 0, 1)
    iris = IRIS_COLORS[rng.integers(len(IRIS_COLORS))] * rng.uniform(0.8, 1.2)
    return AlbedoParams(
        skin=skin,
        lips=lips,
        brows=brows,
        iris=np.clip(iris, 0, 1),
        sclera=np.array([0.88, 0.86, 0.82]),
        mouth=np.array([0.22, 0.06, 0.06]),
    )


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((points - a) @ ab) / (ab @ ab), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


@lru_cache(maxsize=4)
def _region_labels(model: MorphableModel) -> np.ndarray:
    """Per-vertex label: 0 skin, 1 lips, 2 brows, 3 sclera, 4 iris, 5 pupil, 6 mouth."""
    from matplotlib.path import Path

    mean = model.mean
    label = np.zeros(model.n_vertices, dtype=np.int8)
    lm = mean[model.landmark_indices]
    face = model.region("face")
    front = mean[face, 2] > lm[48:60, 2].min() - 1.5 / model.unit_mm * 10
    lips = Path(lm[48:60, :2]).contains_points(mean[face, :2]) & front
    label[face[lips]] = 1
    brow_front = mean[face, 2] > lm[17:27, 2].min() - 1.0 / model.unit_mm * 10
    thickness = 0.3 / model.unit_mm * 10  # 3 mm either side of the brow line
    for side in (range(17, 21), range(22, 26)):
        d = np.min([_segment_distance(mean[face, :2], lm[j, :2], lm[j + 1, :2]) for j in side], axis=0)
        label[face[(d < thickness) & brow_front & (label[face] == 0)]] = 2
    for name in ("eyeball_left", "eyeball_right"):
        if name in model.regions:
            idx = model.region(name)
            c = mean[idx].mean(0)
            d = mean[idx] - c
            cos = d[:, 2] / np.linalg.norm(d, axis=1)
            label[idx] = np.where(
                cos > np.cos(np.deg2rad(9)), 5, np.where(cos > np.cos(np.deg2rad(22)), 4, 3)
            )
    if "mouth_socket" in model.regions:
        label[model.region("mouth_socket")] = 6
    return label


def ict_albedo(model: MorphableModel, params: AlbedoParams) -> np.ndarray:
    """Per-vertex albedo (n_vertices, 3) from region colours."""
    palette = np.stack(
        [params.skin, params.lips, params.brows, params.sclera, params.iris, np.full(3, 0.03), params.mouth]
    )
    return palette[_region_labels(model)].astype(np.float32)
