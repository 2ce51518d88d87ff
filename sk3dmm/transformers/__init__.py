"""scikit-learn transformers: photos to coefficients, landmarks to coefficients, sets to one vector."""

from ._aggregate import SetAggregator
from ._cache import clear_cache
from ._image_sets import ImageSet
from ._landmark_fitter import LandmarkFitter
from ._reconstruct import Reconstruct3DMM, Reconstruction

__all__ = ["ImageSet", "LandmarkFitter", "Reconstruct3DMM", "Reconstruction", "SetAggregator", "clear_cache"]
