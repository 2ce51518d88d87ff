"""ResNet-18/34/50 in plain torch with torchvision's state_dict keys, in 2-D (images) or 1-D.

torchvision is not usable next to a CPU torch from PyPI here, so the few networks sk3dmm
needs are written out. ``ResNet(dims=2)`` with the ImageNet stem has exactly torchvision's
parameter names (``conv1.weight``, ``layer1.0.bn1.running_mean``, ..., ``fc.bias``), so
torchvision and Deep3DFaceRecon checkpoints load with ``load_state_dict``. ``dims=1`` builds the
same topology with Conv1d over a coefficient vector.
"""

from __future__ import annotations

from torch import nn

LAYERS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


def _ops(dims: int):
    if dims == 2:
        return nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d
    if dims == 1:
        return nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AdaptiveAvgPool1d
    raise ValueError(f"dims must be 1 or 2, got {dims}")


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, dims: int = 2):
        super().__init__()
        conv, bn, _, _ = _ops(dims)
        self.conv1 = conv(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = bn(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = bn(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, dims: int = 2):
        super().__init__()
        conv, bn, _, _ = _ops(dims)
        self.conv1 = conv(inplanes, planes, 1, bias=False)
        self.bn1 = bn(planes)
        self.conv2 = conv(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = bn(planes)
        self.conv3 = conv(planes, planes * 4, 1, bias=False)
        self.bn3 = bn(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A residual network.

    Parameters
    ----------
    depth : {18, 34, 50}
    num_classes : int
        Size of the final ``fc`` layer; 0 leaves ``fc`` as identity (a feature extractor).
    dims : {1, 2}
    in_channels : int
    width : int, default=64
        Channels of the first stage (torchvision: 64); later stages double it.
    stem : {"imagenet", "small"}
        ``"imagenet"``: 7x7 stride-2 conv and max-pool (torchvision); ``"small"``: one
        3-wide stride-1 conv, for short inputs such as a coefficient vector.
    zero_init_residual : bool
        Zero the last BN of each block (a common training trick).
    """

    def __init__(
        self,
        depth: int = 18,
        num_classes: int = 1000,
        dims: int = 2,
        in_channels: int = 3,
        width: int = 64,
        stem: str = "imagenet",
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if depth not in LAYERS:
            raise ValueError(f"depth must be one of {sorted(LAYERS)}, got {depth}")
        kind, layers = LAYERS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        conv, bn, pool, avg = _ops(dims)
        self.dims = dims
        self.inplanes = width
        if stem == "imagenet":
            self.conv1 = conv(in_channels, width, 7, 2, 3, bias=False)
            self.maxpool = pool(3, 2, 1)
        elif stem == "small":
            self.conv1 = conv(in_channels, width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        self.bn1 = bn(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, width, layers[0], 1)
        self.layer2 = self._make_layer(block, width * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], 2)
        self.avgpool = avg(1)
        self.num_features = width * 8 * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                last = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else getattr(m, "bn2", None)
                if isinstance(m, (BasicBlock, Bottleneck)) and last is not None:
                    nn.init.zeros_(last.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        conv, bn, _, _ = _ops(self.dims)
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                bn(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.dims)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, dims=self.dims) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def pooled(self, x):
        """Globally pooled features, (b, C, 1[, 1])."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x)

    def features(self, x):
        return self.pooled(x).flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


def resnet18(**kwargs) -> ResNet:
    return ResNet(18, **kwargs)


def resnet34(**kwargs) -> ResNet:
    return ResNet(34, **kwargs)


def resnet50(**kwargs) -> ResNet:
    return ResNet(50, **kwargs)
