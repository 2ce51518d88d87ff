"""The modules the skorch classifiers train: a residual MLP over coefficients (the default), the
paper's 1-D ResNet over coefficients, and a 2-D ResNet over pixels."""

from __future__ import annotations

import torch
from torch import nn

from ._resnet import ResNet


class _ResidualBlock(nn.Module):
    """``x + Linear(Dropout(GELU(Linear(LayerNorm(x)))))``: a pre-norm residual MLP block."""

    def __init__(self, width: int, hidden: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CoefMLP(nn.Module):
    """Residual MLP for coefficient vectors (the tabular deep-learning recipe, e.g. Gorishniy et
    al. 2021, "Revisiting Deep Learning Models for Tabular Data").

    A coefficient vector has no order along its length (mode 7 is not "next to" mode 8), so
    a convolution over it, as the paper's 1-D ResNet does, imposes a structure that is not
    there; fully connected residual blocks treat every coefficient alike.

    Parameters
    ----------
    n_features, n_classes : int
    width : int, default=128
        Width of the residual stream.
    n_blocks : int, default=2
        Residual blocks (each LayerNorm, Linear to ``2 * width``, GELU, dropout, Linear back).
    dropout : float, default=0.2
        Inside each block.
    input_dropout : float, default=0.0
        On the (standardised) coefficients before the first layer.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        width: int = 128,
        n_blocks: int = 2,
        dropout: float = 0.2,
        input_dropout: float = 0.0,
    ):
        super().__init__()
        self.n_features = n_features
        self.input_dropout = nn.Dropout(input_dropout)
        self.stem = nn.Linear(n_features, width)
        self.blocks = nn.Sequential(*[_ResidualBlock(width, 2 * width, dropout) for _ in range(n_blocks)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.nn.functional.gelu(self.norm(self.blocks(self.stem(self.input_dropout(x))))))


class CoefResNet(nn.Module):
    """The paper's classifier: a ResNet over a coefficient vector, read as a 1-channel 1-D signal.

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
