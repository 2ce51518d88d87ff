"""Networks in plain torch: ResNet backbones (torchvision keys) and the classifier modules."""

from ._classifier_nets import CoefResNet, ImageResNet
from ._resnet import ResNet, resnet18, resnet34, resnet50

__all__ = ["CoefResNet", "ImageResNet", "ResNet", "resnet18", "resnet34", "resnet50"]
