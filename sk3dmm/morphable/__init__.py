"""Morphable face models: the model class and its file loaders."""

from ._bfm import load_bfm_model
from ._ict import load_ict_model
from ._mediapipe_correspondence import MeshCorrespondence, mediapipe_correspondence
from ._model import POSE_NAMES, MorphableModel

__all__ = [
    "MeshCorrespondence",
    "MorphableModel",
    "POSE_NAMES",
    "load_bfm_model",
    "load_ict_model",
    "mediapipe_correspondence",
]
