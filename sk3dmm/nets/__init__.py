"""Networks in plain torch: ResNet / MobileNet backbones, R-Net, and the classifier modules."""

from ._classifier_nets import CoefMLP, CoefResNet, ImageResNet
from ._deep3d import load_deep3d_rnet, load_deep3d_template
from ._embedded import RNetBundle, load_rnet
from ._export import export_rnet
from ._fine_tune import fine_tune_rnet
from ._hybrid_loss import HybridLoss
from ._mobilenet import MobileNetV2
from ._resnet import ResNet, resnet18, resnet34, resnet50
from ._rnet import BACKBONES, DEEP3D_SIZES, RNet
from ._rnet_io import rnet_rotation
from ._rnet_training import TrainConfig, render_training_crops

__all__ = [
    "BACKBONES",
    "DEEP3D_SIZES",
    "CoefMLP",
    "CoefResNet",
    "HybridLoss",
    "ImageResNet",
    "MobileNetV2",
    "RNet",
    "RNetBundle",
    "TrainConfig",
    "ResNet",
    "export_rnet",
    "fine_tune_rnet",
    "load_deep3d_rnet",
    "load_deep3d_template",
    "load_rnet",
    "render_training_crops",
    "resnet18",
    "resnet34",
    "resnet50",
    "rnet_rotation",
]
