"""scikit-learn transformers: photos to coefficients, landmarks to coefficients."""

from ._cache import clear_cache
from ._landmark_fitter import LandmarkFitter
from ._reconstruct import Reconstruct3DMM, Reconstruction

__all__ = ["LandmarkFitter", "Reconstruct3DMM", "Reconstruction", "clear_cache"]
