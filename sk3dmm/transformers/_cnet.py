"""C-Net: per-coefficient confidences for aggregating identity over a set of photos.

Deng et al. (2019) weight each photo's identity coefficients by confidences predicted from
the photo, ``alpha = sum_i c_i * alpha_i / sum_i c_i`` per coefficient, and train the
confidence network without labels: the aggregated identity, with each photo's own
expression and pose, must explain every photo of the set.

Here C-Net reads, per photo, what it is asked to (``inputs``): fit-quality signals (pose
angles, landmark reprojection error, detection score, sharpness and skin fraction of the
crop), optionally R-Net's pooled features of the crop (what Deng et al.'s C-Net reads) and
the photo's own coefficients. Its label-free loss has two parts: R-Net's hybrid loss
(:class:`sk3dmm.nets.HybridLoss`) of every photo re-rendered with the aggregated identity and
its own expression and pose, and a held-out consistency term
(:func:`held_out_consistency`): each photo's identity against the aggregate of the others.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

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


class CNet(nn.Module):
    """MLP from a photo descriptor (``n_in`` numbers) to positive confidences, one per
    identity coefficient.

    The last layer starts at zero, so an untrained C-Net gives equal confidences: the mean.
    """

    def __init__(self, n_in: int, n_coef: int, hidden: int = 64):
        super().__init__()
        self.n_in, self.n_coef = n_in, n_coef
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_coef)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, descriptor: torch.Tensor) -> torch.Tensor:
        return (
            nn.functional.softplus(self.head(self.body(descriptor)) + 0.5413) + 1e-3
        )  # softplus(0.5413) = 1


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


def aggregate(confidences: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Confidence-weighted mean over the photos of each set: (s, k, d) -> (s, d)."""
    c = confidences * mask[..., None]
    return (c * alpha).sum(1) / c.sum(1).clamp_min(1e-8)


def identity_gram(model, step: int = 8) -> torch.Tensor:
    """(n_id, n_id) Gram matrix of the identity modes over the face area (every ``step``-th
    vertex), so that ``d @ G @ d`` is the mean squared vertex distance of an alpha difference."""
    face = model.region("face")[::step]
    basis = torch.as_tensor(model.identity_basis[:, face].reshape(model.n_identity, -1), dtype=torch.float32)
    return basis @ basis.T / len(face)


def held_out_consistency(
    confidences: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor, gram: torch.Tensor
) -> torch.Tensor:
    """Per set: squared shape distance between each photo's identity and C-Net's aggregate of
    the set's other photos (sets of one photo give 0).

    The photos' errors are independent, so its expectation is the aggregate's error against
    the truth plus the held-out photo's own noise (the Noise2Noise argument): minimising it
    makes C-Net's aggregate closer to the truth without any label.
    """
    c = confidences * mask[..., None]
    total, weight = (c * alpha).sum(1, keepdim=True), c.sum(1, keepdim=True)
    others = (total - c * alpha) / (weight - c).clamp_min(1e-8)
    d = others - alpha
    sq = torch.einsum("skn,nm,skm->sk", d, gram, d)
    valid = mask * (mask.sum(1, keepdim=True) >= 2)
    return (sq * valid).sum(1) / valid.sum(1).clamp_min(1.0)
