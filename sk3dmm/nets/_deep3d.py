"""Deep3DFaceRecon checkpoints and templates: the paper's exact R-Net setup for BFM users."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..exceptions import ModelFileError
from ..faces import five_points
from ..morphable._files import load_checkpoint
from ._rnet import DEEP3D_SIZES, RNet


def load_deep3d_template(path: str | Path) -> np.ndarray:
    """The 5-point 3-D template from ``similarity_Lm3D_all.mat`` (key ``lm``, 68 x 3)."""
    from scipy.io import loadmat

    try:
        lm = np.asarray(loadmat(path)["lm"], dtype=np.float64)
    except Exception as exc:
        raise ModelFileError(f"cannot read the landmark template {path}: {exc}") from exc
    if lm.shape != (68, 3):
        raise ModelFileError(f"{path}: 'lm' must be 68 x 3, got {lm.shape}")
    return five_points(lm)


def _infer_backbone(state: dict) -> str:
    if "backbone.layer1.0.conv3.weight" in state:
        return "resnet50"
    blocks = {k.split(".")[2] for k in state if k.startswith("backbone.layer3.")}
    return "resnet34" if len(blocks) == 6 else "resnet18"


def load_deep3d_rnet(path: str | Path, backbone: str = "auto", map_location="cpu") -> RNet:
    """Load Deep3DFaceRecon's ``epoch_20.pth`` (its ``net_recon`` weights) into an :class:`RNet`.

    Parameters
    ----------
    path : checkpoint file
    backbone : {"auto", "resnet50", "resnet18", "resnet34"}, default="auto"
        Deep3DFaceRecon's ``--net_recon`` option (resnet50 for the released model); "auto"
        reads it from the weights.

    Raises
    ------
    ModelFileError
        The file is unreadable, has no ``net_recon`` key, or its tensors do not match.
    """
    path = Path(path)
    ckpt = load_checkpoint(path, "Deep3DFaceRecon checkpoint")
    state = ckpt.get("net_recon") if isinstance(ckpt, dict) else None
    if state is None:
        keys = list(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelFileError(f"{path} is not a Deep3DFaceRecon checkpoint: no 'net_recon' key (found {keys})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    backbone = _infer_backbone(state) if backbone == "auto" else backbone
    net = RNet(DEEP3D_SIZES, backbone=backbone)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not match a {backbone} R-Net: {str(exc)[:300]}") from exc
    return net.eval()
