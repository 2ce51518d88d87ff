"""R-Net: a CNN regressing 3DMM coefficients, with Deep3DFaceRecon's head layout."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._mobilenet import MobileNetV2
from ._resnet import ResNet

# Deep3DFaceRecon's coefficient blocks, in the order of its final_layers.
DEEP3D_SIZES = OrderedDict(id=80, exp=64, tex=80, angle=3, gamma=27, txy=2, tz=1)
BACKBONES = ("resnet18", "resnet34", "resnet50", "mobilenet_v2")


def make_backbone(name: str, width: int | None = None) -> nn.Module:
    """A feature extractor whose ``pooled(x)`` gives (b, C, 1, 1) and ``num_features`` is C."""
    if name.startswith("resnet"):
        return ResNet(int(name[6:]), num_classes=0, width=width or 64)
    if name == "mobilenet_v2":
        return MobileNetV2(width_mult=(width or 32) / 32)
    raise ValueError(f"backbone must be one of {BACKBONES}, got {name!r}")


class RNet(nn.Module):
    """Backbone + one zero-initialised 1x1 convolution per coefficient block.

    With ``backbone="resnet50"`` and the default sizes, parameter names and shapes are those
    of Deep3DFaceRecon's ``ReconNetWrapper`` (``backbone.*``, ``final_layers.0-6.*``), so its
    ``epoch_20.pth`` loads as is.

    Parameters
    ----------
    sizes : mapping of block name to size, default Deep3DFaceRecon's (id 80, exp 64, tex 80,
        angle 3, gamma 27, txy 2, tz 1)
    backbone : {"resnet18", "resnet34", "resnet50", "mobilenet_v2"}
    width : int, optional
        First-stage channels of a ResNet (64 as torchvision) or 32 x MobileNet's multiplier.
    """

    def __init__(self, sizes=DEEP3D_SIZES, backbone: str = "resnet50", width: int | None = None):
        super().__init__()
        self.sizes = OrderedDict(sizes)
        self.backbone_name = backbone
        self.backbone = make_backbone(backbone, width)
        c = self.backbone.num_features
        self.final_layers = nn.ModuleList([nn.Conv2d(c, n, 1, bias=True) for n in self.sizes.values()])
        for layer in self.final_layers:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (b, C): what C-Net reads."""
        return self.backbone.pooled(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenated coefficients (b, sum(sizes)), in ``sizes`` order."""
        return self.forward_with_features(x)[0]

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Coefficients and the pooled features they were read from, in one pass."""
        f = self.backbone.pooled(x)
        return torch.cat([layer(f) for layer in self.final_layers], 1).flatten(1), f.flatten(1)

    def predict_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward_with_features` whose rows do not depend on the rest of the batch.

        On CPU, oneDNN runs a batch of one through other convolution kernels than a batch of
        two or more, and the outputs differ by up to 7e-7 (measured on the embedded R-Net;
        every batch size from 2 to 300 gives the same bits for a sample). A lone crop is
        therefore run with a copy of itself.
        """
        if len(x) != 1:
            return self.forward_with_features(x)
        coefs, feats = self.forward_with_features(torch.cat([x, x]))
        return coefs[:1], feats[:1]

    def split(self, coefficients: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split the output into named blocks, as Deep3DFaceRecon's ``split_coeff``."""
        out, start = {}, 0
        for name, n in self.sizes.items():
            out[name] = coefficients[:, start : start + n]
            start += n
        return out
