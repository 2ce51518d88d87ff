"""C-Net: per-coefficient confidences for aggregating identity over a set of photos.

Deng et al. (2019) weight each photo's identity coefficients by confidences predicted from
the photo, ``alpha = sum_i c_i * alpha_i / sum_i c_i`` per coefficient, and train the
confidence network without labels: the aggregated identity, with each photo's own
expression and pose, must explain every photo of the set. Here the per-photo input is the
photo's coefficients, fit-quality signals (pose angles, landmark reprojection error,
detection score) and, when the photos went through R-Net, its pooled features of the crop
(Deng et al.'s C-Net reads R-Net's feature maps), and the label-free loss is R-Net's hybrid loss
(:class:`sk3dmm.nets.HybridLoss`: weighted landmarks and the skin-masked photometric error)
of every photo re-rendered with the aggregated identity and its own expression and pose.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

N_QUALITY = 5  # |yaw|, |pitch|, |roll| (scaled), reprojection error / face size, detection score


class CNet(nn.Module):
    """MLP from a photo descriptor to positive per-coefficient confidences.

    The last layer starts at zero, so an untrained C-Net gives equal confidences: the mean.
    """

    def __init__(self, n_coef: int, hidden: int = 64, n_features: int = 0):
        super().__init__()
        self.n_coef = n_coef
        self.n_features = n_features
        self.body = nn.Sequential(
            nn.Linear(n_coef + N_QUALITY + n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.head = nn.Linear(hidden, n_coef)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, descriptor: torch.Tensor) -> torch.Tensor:
        return (
            nn.functional.softplus(self.head(self.body(descriptor)) + 0.5413) + 1e-3
        )  # softplus(0.5413) = 1


def quality_features(reconstructions) -> np.ndarray:
    """(k, N_QUALITY) fit-quality signals of each photo's reconstruction."""
    rows = []
    for r in reconstructions:
        lm = r.landmarks
        size = np.sqrt(((lm - lm.mean(0)) ** 2).sum(1).mean())
        yaw, pitch, roll = np.abs(r.coefficients["pose"][:3]) / 45.0
        rows.append([yaw, pitch, roll, 10.0 * r.reprojection_error / max(size, 1e-6), r.score])
    return np.asarray(rows, dtype=np.float32)


def aggregate(confidences: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Confidence-weighted mean over the photos of each set: (s, k, d) -> (s, d)."""
    c = confidences * mask[..., None]
    return (c * alpha).sum(1) / c.sum(1).clamp_min(1e-8)
