"""Datasets: synthetic faces with ground truth, and loaders for KDEF and FEI folders."""

from ._synthetic_landmarks import make_synthetic_landmarks, random_coefficients

__all__ = ["make_synthetic_landmarks", "random_coefficients"]
