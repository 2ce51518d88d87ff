"""sk3dmm: face photos to 3D Morphable Model coefficients, the scikit-learn way."""

from .classifiers import CoefResNetClassifier, ImageResNetClassifier
from .exceptions import FaceNotFoundError, ImageReadError, ModelFileError
from .morphable import MorphableModel, load_bfm_model, load_ict_model
from .transformers import LandmarkFitter, Reconstruct3DMM, SetAggregator, clear_cache

__version__ = "0.1.0"

__all__ = [
    "CoefResNetClassifier",
    "ImageResNetClassifier",
    "FaceNotFoundError",
    "LandmarkFitter",
    "Reconstruct3DMM",
    "SetAggregator",
    "clear_cache",
    "ImageReadError",
    "ModelFileError",
    "MorphableModel",
    "load_bfm_model",
    "load_ict_model",
]
