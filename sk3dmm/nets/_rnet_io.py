"""What goes into and comes out of an R-Net: the embedded R-Net's coefficient blocks, crop size
and framing, the crop template, the input tensor layout, and the rotation of the angle head."""

from __future__ import annotations

import numpy as np
import torch

from ..faces import five_points
from ..fitting import euler_to_matrix
from ..fitting._camera import FLIP_DIAG
from ..morphable import MorphableModel

ICT_SIZES = {"id": 100, "exp": 53, "angle": 3, "gamma": 27}
INPUT_SIZE = 112
RESCALE_CM = 102.0 / 10.0 * INPUT_SIZE / 224.0  # Deep3DFaceRecon's framing, for centimetres


def ict_template(model: MorphableModel) -> np.ndarray:
    """5-point template (eye centres, nose, mouth corners) of the mean face, centred on its
    68 landmarks so the crop is centred on the face."""
    lm = model.mean[model.landmark_indices].astype(np.float64)
    return five_points(lm - lm.mean(0))


def to_input(crops: np.ndarray, device="cpu") -> torch.Tensor:
    """uint8 crops (b, h, w, 3) to R-Net input: RGB in [0, 1], (b, 3, h, w), as Deep3DFaceRecon."""
    return torch.as_tensor(crops, device=device).permute(0, 3, 1, 2).float().div_(255.0)


def rnet_rotation(angle: torch.Tensor, deep3d: bool) -> torch.Tensor:
    """Model-to-camera rotation (b, 3, 3) from an R-Net's angle head.

    sk3dmm nets regress (yaw, pitch, roll) in radians (:func:`sk3dmm.fitting.euler_to_matrix`);
    Deep3DFaceRecon's regress (x, y, z) angles of ``Rz @ Ry @ Rx`` in its y-up frame, so the
    camera rotation is ``FLIP @ Rz @ Ry @ Rx``.
    """
    if not deep3d:
        return euler_to_matrix(angle[:, 0], angle[:, 1], angle[:, 2])
    x, y, z = angle.unbind(-1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rx = torch.stack([one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos()], -1)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1)
    rz = torch.stack([z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one], -1)
    rot = rz.reshape(-1, 3, 3) @ ry.reshape(-1, 3, 3) @ rx.reshape(-1, 3, 3)
    return torch.tensor(FLIP_DIAG, dtype=rot.dtype, device=rot.device)[:, None] * rot
