"""scikit-learn transformers: photos to coefficients, landmarks to coefficients, sets to one vector."""

from ..pipeline import Reconstruction, cache_memory_limit_mb, clear_cache, set_cache_memory_limit
from ._aggregate import SetAggregator
from ._hog import HOGFeatures
from ._image_sets import ImageSet
from ._landmark_fitter import LandmarkFitter
from ._reconstruct import Reconstruct3DMM

__all__ = [
    "HOGFeatures",
    "ImageSet",
    "LandmarkFitter",
    "Reconstruct3DMM",
    "Reconstruction",
    "SetAggregator",
    "cache_memory_limit_mb",
    "clear_cache",
    "set_cache_memory_limit",
]
