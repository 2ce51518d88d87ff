"""sk3dmm: face photos to 3D Morphable Model coefficients, the scikit-learn way.

Imported before torch, sk3dmm sets ``GOMP_SPINCOUNT=10000`` unless it is set: torch's OpenMP
(GNU libgomp, which reads it when torch loads) then keeps its idle threads spinning for 10,000
rounds after a parallel region instead of 300,000, so that they do not hold a core the
networks' own threads (LiteRT's) need next. On 2 cores that made the default method's
detection 1-2 ms a photo faster after a fit, and a 1,000-photo folder 12% faster (README
0.8.1). Set the variable yourself, or import torch first, to keep libgomp's default.
"""

import os as _os
import sys as _sys

if "torch" not in _sys.modules:
    _os.environ.setdefault("GOMP_SPINCOUNT", "10000")

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
