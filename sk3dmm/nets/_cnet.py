"""C-Net: the network giving per-coefficient confidences for aggregating identity over a set
of photos (Deng et al., 2019), the aggregation, and its checkpoint (reading and writing).

What C-Net reads per photo is in :mod:`sk3dmm.transformers._cnet`; its label-free training
in :mod:`sk3dmm.training._cnet_training`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..exceptions import ModelFileError
from ..morphable._files import load_checkpoint


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


def aggregate(confidences: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Confidence-weighted mean over the photos of each set: (s, k, d) -> (s, d)."""
    c = confidences * mask[..., None]
    return (c * alpha).sum(1) / c.sum(1).clamp_min(1e-8)


@lru_cache(maxsize=2)
def load_cnet(path: str) -> dict:
    """A C-Net checkpoint written by :func:`save_cnet`: the network (eval mode) and its input
    scaling, as the dict ``SetAggregator.cnet_`` holds."""
    ckpt = load_checkpoint(path, "C-Net weights")
    try:
        net = CNet(int(ckpt["n_in"]), int(ckpt["n_coef"]), int(ckpt["hidden"]))
        net.load_state_dict(ckpt["state_dict"])
        return {
            "net": net.eval(),
            "inputs": str(ckpt["inputs"]),
            "n_features": int(ckpt["n_features"]),
            **{k: ckpt[k].numpy() for k in ("mean", "scale", "feature_mean", "feature_scale")},
            "method": ckpt.get("method"),
        }
    except (KeyError, TypeError, AttributeError, RuntimeError) as exc:
        raise ModelFileError(
            f"C-Net weights {path}: not an sk3dmm C-Net checkpoint (see SetAggregator.save_cnet): "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        ) from exc


def save_cnet(cnet: dict, path: str | Path) -> None:
    """Write a C-Net (the dict ``SetAggregator.cnet_`` holds: weights and input scaling)."""
    net = cnet["net"]
    torch.save(
        {
            "state_dict": net.state_dict(),
            "n_in": net.n_in,
            "n_coef": net.n_coef,
            "hidden": net.head.in_features,
            "inputs": cnet["inputs"],
            "n_features": cnet["n_features"],
            "mean": torch.tensor(cnet["mean"]),
            "scale": torch.tensor(cnet["scale"]),
            "feature_mean": torch.tensor(cnet["feature_mean"]),
            "feature_scale": torch.tensor(cnet["feature_scale"]),
            "method": "label-free: hybrid loss (landmarks, skin photometric) + held-out consistency",
        },
        path,
    )
