"""What every regressor may read: the model, R-Net and the transformer's settings."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..morphable import MorphableModel


@dataclass(frozen=True, eq=False)
class RegressionSettings:
    """The settings regressors are built with (see :class:`~sk3dmm.Reconstruct3DMM`)."""

    model: MorphableModel
    rnet: object = None
    focal_length: float | None = None
    n_iter: int = 3
    identity_reg: float = 3e-2
    expression_reg: float = 0.3
    precision: str = "float64"
    device: torch.device = torch.device("cpu")
    batch_size: int = 256
