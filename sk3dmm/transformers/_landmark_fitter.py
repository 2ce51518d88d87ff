"""LandmarkFitter: 68 image landmarks per row in, 3DMM coefficients out."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..fitting import fit_shape_and_pose, fit_to_blocks
from ..morphable import MorphableModel
from ..pipeline._errors import KEEP_GOING, ON_ERROR, apply_policy
from ._blocks import feature_names, normalize_coef
from ._model_choice import resolve_model

N_LANDMARK_FEATURES = 136


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _degenerate_rows(landmarks: np.ndarray) -> list[tuple[int, str]]:
    """Rows whose points span less than a pixel in some direction (one spot or one line):
    no pose fits them."""
    centred = landmarks - landmarks.mean(1, keepdims=True)
    cov = np.einsum("npi,npj->nij", centred, centred) / landmarks.shape[1]
    spread = np.sqrt(np.clip(np.linalg.eigvalsh(cov), 0, None))  # (n, 2), ascending
    bad = np.flatnonzero(spread[:, 0] < 1.0)
    return [
        (int(i), f"degenerate landmarks: they span {spread[i, 0]:.2g} x {spread[i, 1]:.3g} px, no face shape")
        for i in bad
    ]


class LandmarkFitter(TransformerMixin, BaseEstimator):
    """Fit a 3D morphable model to 68 image landmarks per sample.

    :class:`Reconstruct3DMM`'s fit for dlib's 68 points: use it when 68 landmarks come from
    elsewhere (another detector, annotations). Each row holds ``x0, y0, x1, y1, ... x67, y67``
    in pixels, dlib / iBUG-68 order. It takes 68 points only: MediaPipe's 468-point mesh, which
    ``Reconstruct3DMM`` fits by default, needs its vertex correspondence
    (:func:`sk3dmm.fitting.fit_shape_and_pose` with ``landmark_vertices``).

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
    n_iter : int, default=3
        Outer pose / contour / shape iterations.
    identity_reg, expression_reg : float, default=3e-2, 0.3
        Prior weights (see :func:`sk3dmm.fitting.fit_shape_and_pose`).
    contour : bool, default=True
        Let jaw-contour landmarks slide along the jaw as the head turns.
    batch_size : int, default=1024
        Faces fitted together.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    precision : {"float64", "float32"}, default="float64"
        Arithmetic of the fit. float64 gives a row the same bits in every call and whatever
        else is in its batch (``tests/test_repeatability.py``), as scikit-learn's
        ``check_methods_subset_invariance`` asks. float32 is faster on large batches and
        repeatable call to call, but a row moves with the size of its batch by up to
        ~1e-5 in ``alpha`` / ``beta`` (a few float32 steps: batched matrix products take
        other BLAS kernels for other batch sizes).
    on_error : {"raise", "warn", "nan"}, default="raise"
        What a degenerate row gets (all points nearly on one line or one spot, so no pose
        can be fitted): ``"raise"`` names the row; ``"warn"`` and ``"nan"`` give it a NaN row
        (with or without a warning naming the rows).

    Attributes
    ----------
    model_ : MorphableModel
    n_features_in_ : int
        Always 136.
    feature_names_out_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from sk3dmm import LandmarkFitter, load_ict_model
    >>> model = load_ict_model()
    >>> points = model.mean[model.landmark_indices, :2] * [8, -8] + 250  # a frontal mean face
    >>> coefs = LandmarkFitter(coef=("beta", "pose")).fit_transform(points.reshape(1, 136))
    >>> coefs.shape
    (1, 59)
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
        "on_error": [StrOptions(set(ON_ERROR))],
    }

    def __init__(
        self,
        model=None,
        coef=("alpha", "beta"),
        focal_length=None,
        principal_point=None,
        n_iter=3,
        identity_reg=3e-2,
        expression_reg=0.3,
        contour=True,
        batch_size=1024,
        device="cpu",
        precision="float64",
        on_error="raise",
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
        self.on_error = on_error

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
        check_is_fitted(self, "feature_names_out_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        landmarks = self._as_landmarks(X)
        out = np.full((len(X), len(self.feature_names_out_)), np.nan, dtype=np.float32)
        failures = [(i, f"sample {i}", reason) for i, reason in _degenerate_rows(landmarks)]
        if failures and self.on_error == "raise":
            raise ValueError(f"{failures[0][1]}: {failures[0][2]}. {KEEP_GOING}")
        good = np.setdiff1d(np.arange(len(X)), [i for i, _, _ in failures])
        for s in range(0, len(good), self.batch_size):
            rows = good[s : s + self.batch_size]
            try:
                out[rows] = self._fit_batch(landmarks[rows])
            except torch.linalg.LinAlgError:  # name the row(s) that break the batch
                for i in rows:
                    try:
                        out[i] = self._fit_batch(landmarks[i : i + 1])[0]
                    except torch.linalg.LinAlgError:
                        if self.on_error == "raise":
                            raise ValueError(
                                f"sample {i}: the fit is singular for these landmarks. {KEEP_GOING}"
                            ) from None
                        failures.append((i, f"sample {i}", "the fit is singular for these landmarks"))
        apply_policy(sorted(failures), self.on_error)  # warns under "warn"; transform leaves no state
        return out

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
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
