"""Training the networks: R-Net on synthetic renders (stage 1, then the hybrid stage), R-Net
fine-tuning on unlabelled photos, Deng et al.'s hybrid loss, and C-Net's label-free training.

Not imported by ``import sk3dmm``: inference (:mod:`sk3dmm.nets`, the transformers) loads it
only when asked to train (``fine_tune=True``, ``SetAggregator("cnet").fit``).
"""

from ._cnet_training import CNET_LOSS_WEIGHTS, held_out_consistency, train_cnet
from ._fine_tune import fine_tune_rnet
from ._hybrid_loss import HybridLoss
from ._rnet_training import (
    HybridConfig,
    ShapeLoss,
    TrainConfig,
    render_training_crops,
    save_rnet,
    train_hybrid_stage,
    train_rnet,
)

__all__ = [
    "CNET_LOSS_WEIGHTS",
    "HybridConfig",
    "HybridLoss",
    "ShapeLoss",
    "TrainConfig",
    "fine_tune_rnet",
    "held_out_consistency",
    "render_training_crops",
    "save_rnet",
    "train_cnet",
    "train_hybrid_stage",
    "train_rnet",
]
