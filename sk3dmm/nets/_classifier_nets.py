"""The modules the skorch classifiers train: a residual MLP over coefficients (the default), the
paper's 1-D ResNet over coefficients, and a 2-D ResNet over pixels."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._resnet import ResNet


class _PackedLinear(nn.Module):
    """``k`` independent linear layers applied at once to a ``(k, n, d_in)`` stack."""

    def __init__(self, k: int, d_in: int, d_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)  # torch.nn.Linear's default initialisation, per member
        self.weight = nn.Parameter(torch.empty(k, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, 1, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class _ResidualBlock(nn.Module):
    """``x + Linear(Dropout(GELU(Linear(LayerNorm(x)))))`` for every member: a pre-norm
    residual MLP block."""

    def __init__(self, k: int, width: int, hidden: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = _PackedLinear(k, width, hidden)
        self.dropout = nn.Dropout(dropout)
        self.down = _PackedLinear(k, hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(self.dropout(F.gelu(self.up(self.norm(x)))))


class CoefMLP(nn.Module):
    """An ensemble of residual MLPs for coefficient vectors, trained at once (the tabular
    deep-learning recipe: Gorishniy et al. 2021, "Revisiting Deep Learning Models for Tabular
    Data"; the packed ensemble after Gorishniy et al. 2024, "TabM").

    A coefficient vector has no order along its length (mode 7 is not "next to" mode 8), so
    a convolution over it, as the paper's 1-D ResNet does, imposes a structure that is not
    there; fully connected residual blocks treat every coefficient alike. The ``n_members``
    MLPs share nothing but their inputs; their weights sit in one tensor per layer, so they
    train as one network in batched matrix products. In training the module returns every
    member's logits, ``(n, n_members, n_classes)``, and each member is trained on its own
    loss (:class:`sk3dmm.CoefResNetClassifier` does this); in evaluation it returns the log of
    the members' mean probability, ``(n, n_classes)``. With a few hundred samples one MLP's
    accuracy moves by points with its initialisation; the mean of 8 moves far less.

    Parameters
    ----------
    n_features, n_classes : int
    width : int, default=64
        Width of each member's residual stream.
    n_blocks : int, default=2
        Residual blocks (each LayerNorm, Linear to ``2 * width``, GELU, dropout, Linear back).
    dropout : float, default=0.2
        Inside each block.
    input_dropout : float, default=0.0
        On the (standardised) coefficients before the first layer.
    input_noise : float, default=0.2
        Standard deviation of Gaussian noise added to the (standardised) coefficients in
        training, drawn for each member.
    n_members : int, default=8
        MLPs in the ensemble; 1 is a single residual MLP.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        width: int = 64,
        n_blocks: int = 2,
        dropout: float = 0.2,
        input_dropout: float = 0.0,
        input_noise: float = 0.2,
        n_members: int = 8,
    ):
        super().__init__()
        if n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {n_members}")
        self.n_features = n_features
        self.n_members = n_members
        self.input_noise = input_noise
        self.input_dropout = nn.Dropout(input_dropout)
        self.stem = _PackedLinear(n_members, n_features, width)
        self.blocks = nn.Sequential(
            *[_ResidualBlock(n_members, width, 2 * width, dropout) for _ in range(n_blocks)]
        )
        self.norm = nn.LayerNorm(width)
        self.head = _PackedLinear(n_members, width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_dropout(x).unsqueeze(0).expand(self.n_members, -1, -1)
        if self.training and self.input_noise:
            x = x + self.input_noise * torch.randn_like(x)
        logits = self.head(F.gelu(self.norm(self.blocks(self.stem(x))))).transpose(0, 1)
        if self.training:
            return logits  # (n, members, classes): each member's own loss
        return torch.logsumexp(F.log_softmax(logits, -1), 1) - math.log(self.n_members)


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
