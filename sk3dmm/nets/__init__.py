"""Networks in plain torch: ResNet / MobileNet backbones, R-Net, C-Net and the classifier
modules, with their loading and export. Training is in :mod:`sk3dmm.training`."""

from ._classifier_nets import CoefMLP, CoefResNet, ImageResNet
from ._deep3d import load_deep3d_rnet, load_deep3d_template
from ._embedded import RNetBundle, load_profile_rnet, load_rnet
from ._export import export_rnet
from ._mobilenet import MobileNetV2
from ._resnet import ResNet, resnet18, resnet34, resnet50
from ._rnet import BACKBONES, DEEP3D_SIZES, RNet
from ._rnet_io import ICT_SIZES, rnet_rotation

# Names that moved to sk3dmm.training, still reachable here; importing them loads the
# training code (and the renderer) on first access only (PEP 562).
_TRAINING_NAMES = ("HybridLoss", "TrainConfig", "fine_tune_rnet", "render_training_crops")


def __getattr__(name: str):
    if name in _TRAINING_NAMES:
        from .. import training

        value = getattr(training, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_TRAINING_NAMES})


__all__ = [
    "BACKBONES",
    "DEEP3D_SIZES",
    "ICT_SIZES",
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
    "load_profile_rnet",
    "load_rnet",
    "render_training_crops",
    "resnet18",
    "resnet34",
    "resnet50",
    "rnet_rotation",
]
