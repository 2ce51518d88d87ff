"""The modules the skorch classifiers train: a 1-D ResNet over coefficients, a 2-D one over pixels."""

from __future__ import annotations

import torch
from torch import nn

from ._resnet import ResNet


class CoefResNet(nn.Module):
    """ResNet over a coefficient vector, read as a 1-channel 1-D signal.

    Parameters
    ----------
    n_features : int
        Length of the coefficient vector (e.g. 100 for ICT alpha, 80 for BFM alpha).
    n_classes : int
    depth : {18, 34, 50}, default=34
        As the paper (ResNet-34).
    width : int, default=16
        Channels of the first stage (torchvision's 64 is 16x the compute; 16 suits CPUs).
    dropout : float, default=0.0
        Before the final layer.
    """

    def __init__(
        self, n_features: int, n_classes: int, depth: int = 34, width: int = 16, dropout: float = 0.0
    ):
        super().__init__()
        self.n_features = n_features
        self.backbone = ResNet(depth, num_classes=0, dims=1, in_channels=1, width=width, stem="small")
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.backbone.num_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.backbone.features(x.unsqueeze(1))))


class ImageResNet(nn.Module):
    """A 2-D ResNet (torchvision layout) classifying images given as (b, 3, h, w) floats."""

    def __init__(self, n_classes: int, depth: int = 34, width: int = 64, dropout: float = 0.0):
        super().__init__()
        self.backbone = ResNet(depth, num_classes=0, dims=2, in_channels=3, width=width)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.backbone.num_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.backbone.features(x)))
