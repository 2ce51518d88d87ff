"""HOG of face crops: the classical baseline that coefficients are measured against."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted


class HOGFeatures(TransformerMixin, BaseEstimator):
    """Histograms of oriented gradients of face crops (scikit-image), one row per crop.

    Each crop is turned grey (and resized to ``size`` x ``size`` when given, so that crops of
    any size give rows of one length). Put it before a scaler and an SVM for the classical
    baseline of ``benchmarks/bench_real.py`` and ``sk3dmm experiments`` (there on R-Net's
    224-pixel aligned crops, as they are).

    Parameters
    ----------
    size : int or None, default=None
        Side in pixels the crops are resized to; None: as they are (then all of one size).
    orientations, pixels_per_cell, cells_per_block : int, default=9, 8, 2
        ``skimage.feature.hog``'s settings (cells and blocks square).

    Attributes
    ----------
    n_features_out_ : int

    Examples
    --------
    >>> import numpy as np
    >>> HOGFeatures(size=64).fit_transform(np.zeros((2, 100, 100, 3), np.uint8)).shape
    (2, 1764)
    """

    _parameter_constraints = {
        "size": [Interval(Integral, 16, None, closed="left"), None],
        "orientations": [Interval(Integral, 1, None, closed="left")],
        "pixels_per_cell": [Interval(Integral, 2, None, closed="left")],
        "cells_per_block": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, size: int | None = None, orientations: int = 9, pixels_per_cell: int = 8, cells_per_block: int = 2):
        self.size = size
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block

    def fit(self, X, y=None):
        """Check the settings and one crop (nothing is learnt)."""
        self._validate_params()
        self.n_features_out_ = self._hog(self._crops(X)[0]).size
        return self

    def transform(self, X) -> np.ndarray:
        """(n, n_features_out_) HOG rows of the crops ``X`` (arrays (h, w) or (h, w, 3), or
        an (n, h, w[, 3]) array)."""
        check_is_fitted(self, "n_features_out_")
        rows = [self._hog(c) for c in self._crops(X)]
        bad = [i for i, r in enumerate(rows) if r.size != self.n_features_out_]
        if bad:
            raise ValueError(
                f"crop {bad[0]}: {rows[bad[0]].size} HOG features, not {self.n_features_out_} "
                "(crops of another size: set size= to resize them)"
            )
        return np.stack(rows).astype(np.float32)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "n_features_out_")
        return np.array([f"hog{i}" for i in range(self.n_features_out_)], dtype=object)

    @staticmethod
    def _crops(X) -> list[np.ndarray]:
        crops = list(X)
        if not crops:
            raise ValueError("HOGFeatures needs at least one crop")
        for i, c in enumerate(crops):
            c = np.asarray(c)
            if c.ndim not in (2, 3) or min(c.shape[:2]) < 2:
                raise ValueError(f"crop {i}: expected an (h, w) or (h, w, 3) image, got shape {c.shape}")
        return crops

    def _hog(self, crop) -> np.ndarray:
        from skimage.color import rgb2gray
        from skimage.feature import hog
        from skimage.transform import resize

        img = np.asarray(crop)
        grey = rgb2gray(img) if img.ndim == 3 else img.astype(np.float64) / (255.0 if img.dtype == np.uint8 else 1.0)
        if self.size is not None:
            grey = resize(grey, (self.size, self.size), anti_aliasing=True)
        return hog(
            grey,
            orientations=self.orientations,
            pixels_per_cell=(self.pixels_per_cell,) * 2,
            cells_per_block=(self.cells_per_block,) * 2,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images, not a feature matrix
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags
