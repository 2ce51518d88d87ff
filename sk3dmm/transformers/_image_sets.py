"""Samples that are sets of photos: detection of set input and the per-set result object."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


def is_set_input(X) -> bool:
    """True when X is a sequence of image sets (each a list or tuple of images / paths)."""
    if isinstance(X, np.ndarray) and X.dtype != object:
        return False
    if isinstance(X, (str, os.PathLike)) or not len(X):
        return False
    first = X[0]
    return isinstance(first, (list, tuple))


@dataclass
class ImageSet:
    """The per-photo results of one set, as :class:`Reconstruct3DMM` returns them for set input.

    Attributes
    ----------
    coefficients : (k, d) float32, one row per photo (NaN rows for failed photos)
    feature_names : (d,) names of the columns
    reconstructions : list of Reconstruction or None, one per photo
    """

    coefficients: np.ndarray
    feature_names: np.ndarray
    reconstructions: list

    def __array__(self, dtype=None, copy=None):
        return self.coefficients if dtype is None else self.coefficients.astype(dtype)

    def __len__(self) -> int:
        return len(self.coefficients)
