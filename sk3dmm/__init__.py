"""sk3dmm: face photos to 3D Morphable Model coefficients, the scikit-learn way."""

from .classifiers import CoefResNetClassifier, ImageResNetClassifier
from .exceptions import (
    FaceNotFoundError,
    ImageReadError,
    ModelFileError,
    MultipleFacesError,
    ReconstructionError,
)
from .export import FittedMesh, fitted_mesh, write_mesh, write_obj, write_ply
from .failed_samples import SkipFailed, drop_failed
from .morphable import MorphableModel, load_bfm_model, load_ict_model
from .transformers import (
    HOGFeatures,
    LandmarkFitter,
    Reconstruct3DMM,
    SetAggregator,
    cache_memory_limit_mb,
    clear_cache,
    set_cache_memory_limit,
)

__version__ = "0.8.1"

__all__ = [
    "CoefResNetClassifier",
    "ImageResNetClassifier",
    "FaceNotFoundError",
    "FittedMesh",
    "HOGFeatures",
    "LandmarkFitter",
    "Reconstruct3DMM",
    "SetAggregator",
    "SkipFailed",
    "cache_memory_limit_mb",
    "clear_cache",
    "drop_failed",
    "fitted_mesh",
    "set_cache_memory_limit",
    "ImageReadError",
    "ModelFileError",
    "MorphableModel",
    "MultipleFacesError",
    "ReconstructionError",
    "load_bfm_model",
    "load_ict_model",
    "write_mesh",
    "write_obj",
    "write_ply",
]
