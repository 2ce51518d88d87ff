"""R-Net: identity and expression (and, for sk3dmm's own nets, the head's angles) regressed from
the 5-point face crop, batched on the settings' device (bf16 autocast on CUDA)."""

from __future__ import annotations

import numpy as np
import torch

from ..pipeline._records import Coefficients
from ._settings import RegressionSettings


class RNetRegressor:
    """Crops -> ``alpha``, ``beta``, R-Net's angles (sk3dmm's nets) and pooled features."""

    name = "R-Net"
    uses_rnet = True

    def __init__(self, settings: RegressionSettings):
        self.settings = settings
        bundle = settings.rnet
        self.crop_spec = (bundle.template5, bundle.input_size, bundle.rescale_factor)
        self.key = f"rnet|{bundle.source}|{settings.model.fingerprint}|{settings.device.type}"

    def __call__(self, items: list[tuple]) -> list[Coefficients]:
        bundle = self.settings.rnet
        out, features = predict(bundle, np.stack([crop.pixels for _, crop, _ in items]), self.settings)
        ours = "angle" in out and bundle.source.startswith("sk3dmm")  # our (yaw, pitch, roll) head
        angles = np.rad2deg(out["angle"]) if ours else [None] * len(features)
        return [
            Coefficients(alpha=out["id"][j], beta=out["exp"][j], angles=angles[j], features=features[j])
            for j in range(len(features))
        ]


def predict(bundle, crops: np.ndarray, settings: RegressionSettings) -> tuple[dict, np.ndarray]:
    """An R-Net's blocks (float32 numpy, ``exp`` clipped to the model's expression bounds) and
    pooled features for crops (n, size, size, 3) uint8, in batches of ``settings.batch_size`` on
    its device (bf16 autocast on CUDA)."""
    from ..nets._rnet_io import to_input

    device, step = settings.device, settings.batch_size
    net = bundle.net.to(device)
    outs, feats = [], []
    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
        for s in range(0, len(crops), step):
            coefs, f = net.predict_with_features(to_input(crops[s : s + step], device))
            outs.append({k: v.float().cpu().numpy() for k, v in net.split(coefs.float()).items()})
            feats.append(f.float().cpu().numpy())
    out = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    if settings.model.expression_bounds is not None:
        out["exp"] = np.clip(out["exp"], *settings.model.expression_bounds)
    return out, np.concatenate(feats)
