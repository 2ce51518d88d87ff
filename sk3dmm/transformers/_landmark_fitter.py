"""LandmarkFitter: 68 image landmarks per row in, 3DMM coefficients out."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..fitting import fit_shape_and_pose
from ..morphable import MorphableModel
from ._blocks import feature_names, fit_to_blocks, normalize_coef
from ._model_choice import resolve_model

N_LANDMARK_FEATURES = 136


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class LandmarkFitter(TransformerMixin, BaseEstimator):
    """Fit a 3D morphable model to 68 image landmarks per sample.

    The numeric core of :class:`Reconstruct3DMM`: use it when landmarks come from elsewhere
    (another detector, annotations). Each row holds ``x0, y0, x1, y1, ... x67, y67`` in pixels,
    dlib / iBUG-68 order.

    Parameters
    ----------
    model : None, path or MorphableModel, default=None
        None uses the embedded ICT-FaceKit model; a ``.mat`` path Deep3DFaceRecon's BFM.
    coef : str or tuple of str, default=("alpha", "beta")
        Blocks to output, among ``"alpha"`` (identity), ``"beta"`` (expression) and ``"pose"``
        (yaw, pitch, roll in degrees; camera-space translation in mm).
    focal_length : float, default=None
        In pixels. None: 1.2 x the side of an image four times as wide as the landmarks
        (a face filling a quarter of a portrait), per sample.
    principal_point : (float, float), default=None
        In pixels. None: the landmarks' bounding-box centre.
    n_iter : int, default=4
        Outer pose / contour / shape iterations.
    identity_reg, expression_reg : float, default=3e-2, 1e-2
        Prior weights (see :func:`sk3dmm.fitting.fit_shape_and_pose`).
    contour : bool, default=True
        Let jaw-contour landmarks slide along the jaw as the head turns.
    batch_size : int, default=1024
        Faces fitted together.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    precision : {"float32", "float64"}, default="float32"
        Arithmetic of the fit. float32 is about twice as fast; results then depend on the
        other faces in the batch at the 1e-6 level (batched BLAS), float64 removes that.

    Attributes
    ----------
    model_ : MorphableModel
    n_features_in_ : int
        Always 136.
    feature_names_out_ : ndarray of str
    """

    _parameter_constraints: dict = {
        "model": [None, str, os.PathLike, MorphableModel],
        "coef": [str, tuple, list],
        "focal_length": [None, Interval(Real, 0, None, closed="neither")],
        "principal_point": [None, tuple, list, np.ndarray],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "identity_reg": [Interval(Real, 0, None, closed="neither")],
        "expression_reg": [Interval(Real, 0, None, closed="neither")],
        "contour": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "precision": [StrOptions({"float32", "float64"})],
    }

    def __init__(
        self,
        model=None,
        coef=("alpha", "beta"),
        focal_length=None,
        principal_point=None,
        n_iter=4,
        identity_reg=3e-2,
        expression_reg=1e-2,
        contour=True,
        batch_size=1024,
        device="cpu",
        precision="float32",
    ):
        self.model = model
        self.coef = coef
        self.focal_length = focal_length
        self.principal_point = principal_point
        self.n_iter = n_iter
        self.identity_reg = identity_reg
        self.expression_reg = expression_reg
        self.contour = contour
        self.batch_size = batch_size
        self.device = device
        self.precision = precision

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the input and load the model; nothing is learnt from X."""
        X = validate_data(self, X, dtype=np.float64)
        self._check_n_features_136(X)
        self.model_ = resolve_model(self.model)
        self._blocks = normalize_coef(self.coef)
        self.feature_names_out_ = feature_names(self.model_, self._blocks)
        return self

    def transform(self, X):
        """Coefficients of each row's face, float32 of shape (n_samples, n_features_out)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        landmarks = self._as_landmarks(X)
        out = [self._fit_batch(landmarks[i : i + self.batch_size]) for i in range(0, len(X), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.feature_names_out_)), np.float32)

    def _fit_batch(self, landmarks: np.ndarray) -> np.ndarray:
        lo, hi = landmarks.min(1), landmarks.max(1)
        center = (
            (lo + hi) / 2 if self.principal_point is None else np.broadcast_to(self.principal_point, lo.shape)
        )
        if self.focal_length is None:
            extent = 2 * np.abs(landmarks - center[:, None]).max((1, 2))
            focal = 1.2 * np.maximum(extent, 1e-6) * 4  # the face spans about a quarter of a portrait
        else:
            focal = np.full(len(landmarks), float(self.focal_length))
        fit = fit_shape_and_pose(
            self.model_,
            landmarks,
            focal,
            center,
            n_iter=self.n_iter,
            identity_reg=self.identity_reg,
            expression_reg=self.expression_reg,
            contour=self.contour,
            device=resolve_device(self.device),
            dtype=getattr(torch, self.precision),
        )
        blocks = fit_to_blocks(fit, self.model_)
        return np.concatenate([blocks[b] for b in self._blocks], 1)

    def _as_landmarks(self, X: np.ndarray) -> np.ndarray:
        return X.reshape(len(X), 68, 2)

    def _check_n_features_136(self, X):
        if X.shape[1] != N_LANDMARK_FEATURES:
            raise ValueError(
                f"X has {X.shape[1]} features, but LandmarkFitter expects 136 "
                "(x and y of the 68 landmarks, interleaved)"
            )

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
