"""C-Net: per-coefficient confidences for aggregating identity over a set of photos.

Deng et al. (2019) weight each photo's identity coefficients by confidences predicted from
the photo, ``alpha = sum_i c_i * alpha_i / sum_i c_i`` per coefficient, and train the
confidence network without labels: the aggregated identity, with each photo's own
expression and pose, must explain every photo of the set.

Here C-Net reads, per photo, what it is asked to (``inputs``): fit-quality signals (pose
angles, landmark reprojection error, detection score, sharpness and skin fraction of the
crop), optionally R-Net's pooled features of the crop (what Deng et al.'s C-Net reads) and
the photo's own coefficients. This module computes the quality signals; the network and the
aggregation are in :mod:`sk3dmm.nets._cnet`. Its label-free loss
(:mod:`sk3dmm.training._cnet_training`) has two parts: R-Net's hybrid loss
(:class:`sk3dmm.training.HybridLoss`) of every photo re-rendered with the aggregated identity
and its own expression and pose, and a held-out consistency term: each photo's identity
against the aggregate of the others.
"""

from __future__ import annotations

import numpy as np

# pickles of a SetAggregator fitted before C-Net moved to nets/ name sk3dmm.transformers._cnet.CNet
from ..nets._cnet import CNet  # noqa: F401

QUALITY_NAMES = (
    "abs_yaw",
    "abs_pitch",
    "abs_roll",
    "reprojection",
    "detection",
    "sharpness",
    "skin_fraction",
)
N_QUALITY = len(QUALITY_NAMES)
INPUTS = ("quality", "quality+features", "all")


def _crop_quality(crop: np.ndarray | None) -> tuple[float, float]:
    """Sharpness (log variance of the Laplacian, shifted to ~0) and the fraction of the crop's
    central half whose chroma is that of its median (low when something covers the face)."""
    if crop is None:
        return 0.0, 0.0
    c = crop.astype(np.float32) / 255.0
    g = c.mean(-1)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    s = g.shape[0]
    centre = c[s // 4 : 3 * s // 4, s // 4 : 3 * s // 4]
    chroma = centre[..., :2] / np.clip(centre.sum(-1, keepdims=True), 1e-3, None)
    median = np.median(chroma.reshape(-1, 2), 0)
    skin = np.exp(-((chroma - median) ** 2).sum(-1) / (2 * 0.035**2)).mean()
    return float(np.log(lap.var() + 1e-8) + 6.0), float(4.0 * (skin - 0.5))


def quality_features(reconstructions) -> np.ndarray:
    """(k, N_QUALITY) fit-quality signals of each photo's reconstruction (``QUALITY_NAMES``)."""
    rows = []
    for r in reconstructions:
        lm = r.landmarks
        size = np.sqrt(((lm - lm.mean(0)) ** 2).sum(1).mean())
        yaw, pitch, roll = np.abs(r.coefficients["pose"][:3]) / 45.0
        reprojection = 10.0 * r.reprojection_error / max(size, 1e-6)
        rows.append([yaw, pitch, roll, reprojection, r.score, *_crop_quality(r.crop)])
    return np.asarray(rows, dtype=np.float32)
