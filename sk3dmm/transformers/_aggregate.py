"""SetAggregator: one coefficient vector per image set (mean, median, k-means, C-Net)."""

from __future__ import annotations

import os
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_feature_names_in,
    check_array,
    check_is_fitted,
)

from ..exceptions import ModelFileError
from ..morphable import MorphableModel
from ..morphable._files import verified_path
from ..nets._cnet import CNet, aggregate, load_cnet, save_cnet
from ._cnet import INPUTS, N_QUALITY, quality_features
from ._image_sets import ImageSet
from ._model_choice import resolve_model

EMBEDDED_CNET = Path(__file__).resolve().parents[1] / "nets" / "data" / "cnet_ict.pt"
METHODS = ("mean", "median", "kmeans", "kmeans_global", "cnet")


def _as_sets(X) -> tuple[list[tuple[np.ndarray, list | None]], np.ndarray | None]:
    """Each sample as (rows without failed photos, their reconstructions or None), and the
    feature names the first set carries (an :class:`ImageSet`) or None.

    A set whose photos all failed keeps zero rows: it aggregates to a row of NaN.
    """
    if sp.issparse(X):
        raise TypeError(
            "SetAggregator takes image sets (a list of ImageSet objects or of 2-D arrays of per-photo "
            "coefficients, or a dense (n_sets, set_size, n_features) array), not sparse data"
        )
    if hasattr(X, "columns") or hasattr(X, "to_list"):  # a DataFrame / Series column of sets
        from ..faces import column_values

        X = column_values(X)
    elif not isinstance(X, (list, tuple, np.ndarray)) and hasattr(X, "__array__"):
        X = np.asarray(X)  # an array-like (one ImageSet passed as X lands in the error below)
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim != 3:
            hint = "X[None] if it holds one set, X[:, None] if each row is a set of one photo"
            raise ValueError(
                f"a numeric X for SetAggregator must be (n_sets, set_size, n_features), got shape {X.shape}. "
                f"Reshape your data: {hint if X.ndim == 2 else 'to (n_sets, set_size, n_features)'}"
            )
        X = list(X)
    if len(X) == 0:
        raise ValueError("SetAggregator needs at least one image set; got none")
    out = []
    for i, s in enumerate(X):
        recons = s.reconstructions if isinstance(s, ImageSet) else None
        # NaN (and inf) rows are failed photos; complex, sparse or 0-coefficient sets are refused
        rows = check_array(
            s.coefficients if isinstance(s, ImageSet) else s,
            dtype=np.float32,
            ensure_all_finite=False,
            ensure_2d=False,
            allow_nd=True,
            ensure_min_samples=0,
            estimator="SetAggregator",
            input_name=f"set {i}",
        )
        if rows.ndim != 2:
            raise ValueError(
                f"set {i}: expected a 2-D array of per-photo coefficients, got shape {rows.shape}"
            )
        if out and rows.shape[1] != out[0][0].shape[1]:
            raise ValueError(
                f"set {i} has {rows.shape[1]} coefficients per photo, set 0 has {out[0][0].shape[1]}"
            )
        ok = np.isfinite(rows).all(1)
        out.append((rows[ok], [r for r, k in zip(recons, ok) if k] if recons is not None else None))
    names = np.asarray(X[0].feature_names, dtype=object) if isinstance(X[0], ImageSet) else None
    return out, names


def _named(names: np.ndarray | None) -> pd.DataFrame | None:
    """An empty frame with the sets' feature names as columns, for scikit-learn's checks of
    ``feature_names_in_`` (which read names from DataFrame columns)."""
    return None if names is None else pd.DataFrame(columns=names)


def _usable(sets) -> list:
    """The sets with at least one reconstructed photo."""
    return [s for s in sets if len(s[0])]


def robust_kmeans_centroid(rows: np.ndarray, random_state: int) -> np.ndarray:
    """Per-set k-means with k=2: the centroid of the larger cluster (ties: the tighter one).

    Sets of one or two photos have no majority, so they return the mean. For three photos the
    optimal 2-clustering is exact and cheap: the closest pair is the majority.
    """
    if len(rows) < 3:
        return rows.mean(0)
    if len(rows) == 3:
        pairs = ((0, 1), (0, 2), (1, 2))
        i, j = min(pairs, key=lambda p: float(((rows[p[0]] - rows[p[1]]) ** 2).sum()))
        return (rows[i] + rows[j]) / 2
    km = KMeans(2, n_init=4, random_state=random_state).fit(rows)
    counts = np.bincount(km.labels_, minlength=2)
    if counts[0] == counts[1]:
        spread = [((rows[km.labels_ == c] - km.cluster_centers_[c]) ** 2).sum() for c in (0, 1)]
        return km.cluster_centers_[int(np.argmin(spread))]
    return km.cluster_centers_[int(np.argmax(counts))]


def _feature_size(sets) -> int:
    """Length of the R-Net features every photo carries, or 0 when any photo has none."""
    sizes = {
        0 if r.features is None else len(r.features)
        for _, recons in sets
        if recons is not None
        for r in recons
    }
    return sizes.pop() if len(sizes) == 1 else 0


class SetAggregator(TransformerMixin, BaseEstimator):
    """Combine the per-photo coefficients of each image set into one vector.

    Parameters
    ----------
    method : {"mean", "median", "kmeans", "kmeans_global", "cnet"}, default="mean"
        ``"mean"`` / ``"median"``: per coefficient over the photos.
        ``"kmeans"``: the per-set robust variant of the K-means paper: k-means (k=2) on the
        set's photos, the centroid of the larger cluster (outlying photos are left out).
        ``"kmeans_global"``: the K-means paper's clustering over all training photos
        (``n_clusters`` centroids learnt in ``fit``); a set becomes the centroid most of its
        photos are nearest to, "the centroid as the face".
        ``"cnet"``: Deng et al.'s confidence network: identity columns (``alpha_*``) are a
        confidence-weighted mean, trained label-free in ``fit``
        (:func:`sk3dmm.training.train_cnet`); other columns are averaged. Needs the
        :class:`ImageSet` objects of
        ``Reconstruct3DMM`` (it reads landmarks, poses, crops and, with ``method="rnet"``,
        R-Net's features). Without ``fit`` the embedded C-Net is used: it is for the ICT
        model and the embedded R-Net (``Reconstruct3DMM(method="rnet")``).
    n_clusters : int, default=None
        For ``"kmeans_global"``: None uses the number of distinct ``y`` in ``fit``.
    train_cnet : bool, default=True
        For ``"cnet"``: fine-tune C-Net on the sets given to ``fit`` (starting from the
        embedded weights when they fit the input, else from an untrained C-Net), else only
        load them.
    cnet_weights : path or "scratch", default=None
        Start from these C-Net weights instead of the embedded ones; ``"scratch"`` starts
        from an untrained C-Net (equal confidences, i.e. the mean).
    cnet_inputs : {"quality", "quality+features", "all"}, default="quality"
        What C-Net reads per photo: fit-quality signals (pose, landmark fit, detection score,
        crop sharpness and skin fraction); plus R-Net's pooled features (Deng et al.'s input;
        needs ``Reconstruct3DMM(method="rnet")``); plus the photo's identity coefficients.
        The richer inputs overfit the few people of our benchmarks (see the README).
    epochs, lr : training of C-Net
    model : None, path or MorphableModel
        The morphable model the coefficients belong to (for C-Net's loss).
    render_size : int, default=64
        Size (pixels) the face crops are compared with the renders at, in C-Net training.
    loss_weights : dict, default=None
        Weights of C-Net's label-free loss (keywords of :class:`sk3dmm.training.HybridLoss`:
        ``landmark``, ``photometric``, ``coefficient``, and ``consistency`` for the held-out
        consistency term); None uses ``sk3dmm.training.CNET_LOSS_WEIGHTS``.
    random_state : int, RandomState or None
    device : str, default="cpu"
        Kept for API symmetry; C-Net trains on the CPU (it is small, and the crops are there).
    progress : bool, default=False
        Show a tqdm bar over C-Net's training epochs.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray, when the input carries names
    cluster_centers_ : (n_clusters, d), for ``"kmeans_global"``
    cnet_ : dict with the trained network and its input scaling, for ``"cnet"``
    history_ : list of per-epoch C-Net losses

    Examples
    --------
    Sets of per-photo coefficients (any 2-D arrays; ``Reconstruct3DMM`` gives them for sets of
    photos, with what C-Net reads):

    >>> import numpy as np
    >>> from sk3dmm import SetAggregator
    >>> sets = [np.array([[1.0, 2.0], [1.2, 2.2], [9.0, 9.0]]), np.array([[0.0, 1.0], [np.nan, np.nan]])]
    >>> SetAggregator("median").fit_transform(sets)
    array([[1.2, 2.2],
           [0. , 1. ]], dtype=float32)
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(METHODS))],
        "n_clusters": [None, Interval(Integral, 1, None, closed="left")],
        "train_cnet": ["boolean"],
        "cnet_weights": [None, str, os.PathLike],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "model": [None, str, os.PathLike, MorphableModel],
        "cnet_inputs": [StrOptions(set(INPUTS))],
        "render_size": [Interval(Integral, 16, None, closed="left")],
        "loss_weights": [None, dict],
        "random_state": ["random_state"],
        "device": [str],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        method="mean",
        n_clusters=None,
        train_cnet=True,
        cnet_weights=None,
        cnet_inputs="quality",
        epochs=10,
        lr=3e-3,
        model=None,
        render_size=64,
        loss_weights=None,
        random_state=None,
        device="cpu",
        progress=False,
    ):
        self.method = method
        self.n_clusters = n_clusters
        self.train_cnet = train_cnet
        self.cnet_weights = cnet_weights
        self.cnet_inputs = cnet_inputs
        self.epochs = epochs
        self.lr = lr
        self.model = model
        self.render_size = render_size
        self.loss_weights = loss_weights
        self.random_state = random_state
        self.device = device
        self.progress = progress

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn what the method needs (nothing for mean/median/kmeans). Sets with no
        reconstructed photo are left out."""
        all_sets, names = _as_sets(X)
        sets = _usable(all_sets)
        if not sets:
            raise ValueError(f"none of the {len(all_sets)} sets has a reconstructed photo (all rows NaN)")
        self._set_input_info(all_sets, names)
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        if self.method == "kmeans_global":
            k = self.n_clusters or (len(set(np.asarray(y).tolist())) if y is not None else None)
            if k is None:
                raise ValueError("kmeans_global needs n_clusters or labels y to choose it")
            rows = np.concatenate([r for r, _ in sets])
            if len(rows) < k:
                raise ValueError(f"kmeans_global: {k} clusters need at least {k} photos; got {len(rows)}")
            self.cluster_centers_ = KMeans(k, n_init=10, random_state=seed).fit(rows).cluster_centers_
        if self.method == "cnet":
            if self.cnet_weights not in (None, "scratch"):
                load_cnet(str(self.cnet_weights))  # a bad file is named before any work
            if any(recons is None for _, recons in sets):
                raise ValueError(
                    "method='cnet' needs the image sets returned by Reconstruct3DMM (per-photo landmarks and pose)"
                )
            self.cnet_ = self._initial_cnet(seed, sets, training=self.train_cnet)
            self.history_ = []
            if self.train_cnet:
                self._train_cnet(sets, seed)
        return self

    def transform(self, X):
        """(n_sets, n_features) aggregated coefficients; NaN rows for sets with no
        reconstructed photo."""
        all_sets, names = _as_sets(X)
        if not hasattr(self, "n_features_in_"):
            if self.method == "kmeans_global":
                check_is_fitted(self, "cluster_centers_")
            self._set_input_info(all_sets, names)
        else:
            _check_feature_names(self, _named(names), reset=False)
        d = all_sets[0][0].shape[1]
        if d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features, but {type(self).__name__} is expecting {self.n_features_in_} features "
                "as input (coefficients per photo)"
            )
        out = np.full((len(all_sets), d), np.nan, dtype=np.float32)
        usable = [i for i, (rows, _) in enumerate(all_sets) if len(rows)]
        if usable:
            out[usable] = self._aggregate([all_sets[i] for i in usable])
        return out

    def _aggregate(self, sets) -> np.ndarray:
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        if self.method == "mean":
            return np.stack([r.mean(0) for r, _ in sets])
        if self.method == "median":
            return np.stack([np.median(r, 0) for r, _ in sets])
        if self.method == "kmeans":
            return np.stack([robust_kmeans_centroid(r, seed) for r, _ in sets])
        if self.method == "kmeans_global":
            out = []
            for rows, _ in sets:
                nearest = ((rows[:, None] - self.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
                out.append(self.cluster_centers_[np.bincount(nearest).argmax()])
            return np.stack(out)
        if not hasattr(self, "cnet_"):
            self.cnet_ = self._initial_cnet(seed, sets, training=False)
        return self._cnet_transform(sets)

    def get_feature_names_out(self, input_features=None):
        """The names of the sets' coefficients (``feature_names_in_``), else ``x0, x1, ...``."""
        return _check_feature_names_in(self, input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = self.method == "kmeans_global"  # the others work unfitted
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = True  # NaN rows are failed photos
        tags.transformer_tags.preserves_dtype = ["float32"]  # the output is always float32
        return tags

    # ------------------------------------------------------------------ internals
    def _set_input_info(self, sets, names: np.ndarray | None) -> None:
        self.n_features_in_ = sets[0][0].shape[1]
        _check_feature_names(self, _named(names), reset=True)
        self._alpha_cols = (
            np.array([i for i, n in enumerate(names) if str(n).startswith("alpha_")])
            if names is not None
            else np.arange(self.n_features_in_)
        )

    def _model(self) -> MorphableModel:
        return resolve_model(self.model)

    def _initial_cnet(self, seed: int, sets, training: bool) -> dict:
        """The C-Net to start from: the given or embedded weights when they read what the input
        offers, else (only when about to train) a fresh one."""
        if self.cnet_weights == "scratch":
            path = None
        elif self.cnet_weights is not None:
            path = self.cnet_weights
        else:
            path = verified_path(EMBEDDED_CNET, EMBEDDED_CNET.with_suffix(".sha256"))
        n_alpha = len(self._alpha_cols) if hasattr(self, "_alpha_cols") else self._model().n_identity
        n_feat = _feature_size(sets) if self.cnet_inputs != "quality" else 0
        if self.cnet_inputs != "quality" and n_feat == 0:
            raise ValueError(
                f"cnet_inputs={self.cnet_inputs!r} reads R-Net features: reconstruct the sets with "
                "Reconstruct3DMM(method='rnet')"
            )
        if path is not None:
            loaded = load_cnet(str(path))
            net = loaded["net"]
            if (
                net.n_coef == n_alpha
                and loaded["inputs"] == self.cnet_inputs
                and loaded["n_features"] == n_feat
            ):
                copy = CNet(net.n_in, n_alpha, net.head.in_features)
                copy.load_state_dict(net.state_dict())
                return {**loaded, "net": copy}
            problem = (
                f"C-Net {path} reads {loaded['inputs']!r} ({net.n_coef} identity coefficients, "
                f"{loaded['n_features']} R-Net features); this SetAggregator reads {self.cnet_inputs!r} "
                f"({n_alpha}, {n_feat})"
            )
            if self.cnet_weights is not None:
                raise ModelFileError(problem)
            if not training:
                raise ValueError(problem + "; fit it on your sets (train_cnet=True) or match cnet_inputs")
        n_in = N_QUALITY + n_feat + (n_alpha if self.cnet_inputs == "all" else 0)
        with torch.random.fork_rng(devices=[]):  # a seeded start, the global RNG left alone
            torch.manual_seed(seed)
            net = CNet(n_in, n_alpha)
        return {
            "net": net,
            "inputs": self.cnet_inputs,
            "n_features": n_feat,
            "mean": np.zeros(n_alpha, np.float32),
            "scale": np.ones(n_alpha, np.float32),
            "feature_mean": np.zeros(n_feat, np.float32),
            "feature_scale": np.ones(n_feat, np.float32),
            "method": None,
        }

    def _descriptors(self, sets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded (s, k, n_in) descriptors (quality signals, then R-Net features, then the
        scaled identity, as ``inputs`` says), alphas (s, k, n_alpha) and masks (s, k)."""
        k = max(len(r) for r, _ in sets)
        n = len(self._alpha_cols)
        n_feat, inputs = self.cnet_["n_features"], self.cnet_["inputs"]
        if n_feat and _feature_size(sets) != n_feat:
            raise ValueError(
                f"this C-Net reads {n_feat} R-Net features per photo; reconstruct the sets with the "
                "same Reconstruct3DMM(method='rnet') it was trained with"
            )
        desc = np.zeros((len(sets), k, self.cnet_["net"].n_in), np.float32)
        alpha = np.zeros((len(sets), k, n), np.float32)
        mask = np.zeros((len(sets), k), np.float32)
        for i, (rows, recons) in enumerate(sets):
            if recons is None:
                raise ValueError(
                    "method='cnet' needs the image sets returned by Reconstruct3DMM (per-photo landmarks and pose)"
                )
            a = rows[:, self._alpha_cols]
            alpha[i, : len(a)] = a
            parts = [quality_features(recons)]
            if n_feat:
                f = np.stack([r.features for r in recons])
                parts.append((f - self.cnet_["feature_mean"]) / self.cnet_["feature_scale"])
            if inputs == "all":
                parts.append((a - self.cnet_["mean"]) / self.cnet_["scale"])
            desc[i, : len(a)] = np.concatenate(parts, 1)
            mask[i, : len(a)] = 1
        return torch.tensor(desc), torch.tensor(alpha), torch.tensor(mask)

    def _cnet_transform(self, sets) -> np.ndarray:
        desc, alpha, mask = self._descriptors(sets)
        with torch.no_grad():
            agg = aggregate(self.cnet_["net"](desc), alpha, mask).numpy()
        out = np.stack([r.mean(0) for r, _ in sets]).astype(np.float32)
        out[:, self._alpha_cols] = agg
        return out

    def _train_cnet(self, sets, seed: int) -> None:
        """Label-free: the aggregated identity, with each photo's own expression and pose, must
        explain every photo of its set (landmarks and skin pixels,
        :class:`sk3dmm.training.HybridLoss`), and each photo's identity must agree with the
        aggregate of the others (:func:`sk3dmm.training.held_out_consistency`); see
        :func:`sk3dmm.training.train_cnet`."""
        from ..training._cnet_training import train_cnet

        model = self._model()
        if len(self._alpha_cols) != model.n_identity:
            raise ValueError(f"C-Net training needs all {model.n_identity} alpha columns of {model.name}")
        rows = np.concatenate([r[:, self._alpha_cols] for r, _ in sets])
        if self.cnet_["method"] is None:  # from scratch: scale inputs on these data
            self.cnet_["mean"], self.cnet_["scale"] = rows.mean(0), rows.std(0) + 1e-6
            if self.cnet_["n_features"]:
                feats = np.stack([r.features for _, recons in sets for r in recons])
                self.cnet_["feature_mean"] = feats.mean(0)
                self.cnet_["feature_scale"] = feats.std(0) + 1e-3
        desc, alpha, mask = self._descriptors(sets)
        self.history_ += train_cnet(
            self.cnet_["net"],
            desc,
            alpha,
            mask,
            sets,
            model,
            loss_weights=self.loss_weights,
            render_size=self.render_size,
            epochs=self.epochs,
            lr=self.lr,
            seed=seed,
            progress=self.progress,
        )
        self.cnet_["method"] = "trained"

    def label_free_loss(self, X, alpha=None) -> np.ndarray:
        """The hybrid part of C-Net's training objective per set: the mean hybrid loss of a
        set's photos re-rendered with ``alpha`` (n_sets, n_identity), by default the
        aggregated identity.

        Useful to check whether the objective agrees with the truth: on synthetic sets,
        compare it at the true identity and at the aggregate.
        """
        from ..training._cnet_training import label_free_loss

        sets, names = _as_sets(X)
        if not hasattr(self, "_alpha_cols"):
            self._set_input_info(sets, names)
        if alpha is None:
            alpha = self.transform(X)[:, self._alpha_cols]
        return label_free_loss(sets, alpha, self._model(), self.loss_weights, self.render_size)

    def save_cnet(self, path: str | Path) -> None:
        """Write the C-Net (weights and input scaling) for ``cnet_weights=`` or embedding."""
        check_is_fitted(self, "cnet_")
        save_cnet(self.cnet_, path)
