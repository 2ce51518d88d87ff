"""SetAggregator: one coefficient vector per image set (mean, median, k-means, C-Net)."""

from __future__ import annotations

import os
from functools import lru_cache
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ModelFileError
from ..fitting import project, transform
from ..morphable import MorphableModel
from ..morphable._files import verified_path
from ._cnet import CNet, aggregate, quality_features
from ._image_sets import ImageSet
from ._model_choice import resolve_model

EMBEDDED_CNET = Path(__file__).resolve().parents[1] / "nets" / "data" / "cnet_ict.pt"
METHODS = ("mean", "median", "kmeans", "kmeans_global", "cnet")


def _as_sets(X) -> list[tuple[np.ndarray, list | None]]:
    """Each sample as (rows without failed photos, their reconstructions or None)."""
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim != 3:
            raise ValueError(
                f"a numeric X for SetAggregator must be (n_sets, set_size, n_features), got {X.shape}"
            )
        X = list(X)
    out = []
    for i, s in enumerate(X):
        recons = s.reconstructions if isinstance(s, ImageSet) else None
        rows = np.asarray(s, dtype=np.float32)
        if rows.ndim != 2:
            raise ValueError(
                f"set {i}: expected a 2-D array of per-photo coefficients, got shape {rows.shape}"
            )
        ok = np.isfinite(rows).all(1)
        if not ok.any():
            raise ValueError(f"set {i}: no photo of the set was reconstructed (all rows NaN)")
        out.append((rows[ok], [r for r, k in zip(recons, ok) if k] if recons is not None else None))
    return out


def robust_kmeans_centroid(rows: np.ndarray, random_state: int) -> np.ndarray:
    """Per-set k-means with k=2: the centroid of the larger cluster (ties: the tighter one).

    Sets of one or two photos have no majority, so they return the mean.
    """
    if len(rows) < 3:
        return rows.mean(0)
    km = KMeans(2, n_init=4, random_state=random_state).fit(rows)
    counts = np.bincount(km.labels_, minlength=2)
    if counts[0] == counts[1]:
        spread = [((rows[km.labels_ == c] - km.cluster_centers_[c]) ** 2).sum() for c in (0, 1)]
        return km.cluster_centers_[int(np.argmin(spread))]
    return km.cluster_centers_[int(np.argmax(counts))]


@lru_cache(maxsize=2)
def _load_cnet(path: str) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        net = CNet(int(ckpt["n_coef"]), int(ckpt["hidden"]))
        net.load_state_dict(ckpt["state_dict"])
    except Exception as exc:
        raise ModelFileError(f"cannot read C-Net weights {path}: {exc}") from exc
    return {
        "net": net.eval(),
        "mean": ckpt["mean"].numpy(),
        "scale": ckpt["scale"].numpy(),
        "method": ckpt.get("method"),
    }


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
        confidence-weighted mean, trained label-free in ``fit`` (see :mod:`._cnet`); other
        columns are averaged. Needs the :class:`ImageSet` objects of
        ``Reconstruct3DMM`` (it reads landmarks and poses). Without ``fit`` the embedded
        C-Net (ICT model) is used.
    n_clusters : int, default=None
        For ``"kmeans_global"``: None uses the number of distinct ``y`` in ``fit``.
    train_cnet : bool, default=True
        For ``"cnet"``: fine-tune C-Net on the sets given to ``fit`` (starting from the
        embedded weights when they match), else only load them.
    cnet_weights : path or "scratch", default=None
        Start from these C-Net weights instead of the embedded ones; ``"scratch"`` starts
        from an untrained C-Net (equal confidences, i.e. the mean).
    epochs, lr : training of C-Net
    model : None, path or MorphableModel
        The morphable model the coefficients belong to (for C-Net's landmark loss).
    random_state : int, RandomState or None
    device : str, default="cpu"

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray, when the input carries names
    cluster_centers_ : (n_clusters, d), for ``"kmeans_global"``
    cnet_ : dict with the trained network and its input scaling, for ``"cnet"``
    history_ : list of per-epoch C-Net losses
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(METHODS))],
        "n_clusters": [None, Interval(Integral, 1, None, closed="left")],
        "train_cnet": ["boolean"],
        "cnet_weights": [None, str, os.PathLike],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "model": [None, str, os.PathLike, MorphableModel],
        "random_state": ["random_state"],
        "device": [str],
    }

    def __init__(
        self,
        method="mean",
        n_clusters=None,
        train_cnet=True,
        cnet_weights=None,
        epochs=40,
        lr=3e-3,
        model=None,
        random_state=None,
        device="cpu",
    ):
        self.method = method
        self.n_clusters = n_clusters
        self.train_cnet = train_cnet
        self.cnet_weights = cnet_weights
        self.epochs = epochs
        self.lr = lr
        self.model = model
        self.random_state = random_state
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn what the method needs (nothing for mean/median/kmeans)."""
        sets = _as_sets(X)
        self._set_input_info(X, sets)
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        if self.method == "kmeans_global":
            k = self.n_clusters or (len(set(np.asarray(y).tolist())) if y is not None else None)
            if k is None:
                raise ValueError("kmeans_global needs n_clusters or labels y to choose it")
            rows = np.concatenate([r for r, _ in sets])
            self.cluster_centers_ = KMeans(k, n_init=10, random_state=seed).fit(rows).cluster_centers_
        if self.method == "cnet":
            if any(recons is None for _, recons in sets):
                raise ValueError(
                    "method='cnet' needs the image sets returned by Reconstruct3DMM (per-photo landmarks and pose)"
                )
            self.cnet_ = self._initial_cnet()
            self.history_ = []
            if self.train_cnet:
                self._train_cnet(sets, seed)
        return self

    def transform(self, X):
        """(n_sets, n_features) aggregated coefficients."""
        sets = _as_sets(X)
        if not hasattr(self, "n_features_in_"):
            if self.method == "kmeans_global":
                check_is_fitted(self, "cluster_centers_")
            self._set_input_info(X, sets)
        d = sets[0][0].shape[1]
        if d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features per photo, but SetAggregator was fitted with {self.n_features_in_}"
            )
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        if self.method == "mean":
            return np.stack([r.mean(0) for r, _ in sets]).astype(np.float32)
        if self.method == "median":
            return np.stack([np.median(r, 0) for r, _ in sets]).astype(np.float32)
        if self.method == "kmeans":
            return np.stack([robust_kmeans_centroid(r, seed) for r, _ in sets]).astype(np.float32)
        if self.method == "kmeans_global":
            out = []
            for rows, _ in sets:
                nearest = ((rows[:, None] - self.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
                out.append(self.cluster_centers_[np.bincount(nearest).argmax()])
            return np.stack(out).astype(np.float32)
        if not hasattr(self, "cnet_"):
            self.cnet_ = self._initial_cnet()
        return self._cnet_transform(sets)

    def get_feature_names_out(self, input_features=None):
        if hasattr(self, "feature_names_in_"):
            return self.feature_names_in_.copy()
        return np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    # ------------------------------------------------------------------ internals
    def _set_input_info(self, X, sets) -> None:
        self.n_features_in_ = sets[0][0].shape[1]
        first = X[0]
        if isinstance(first, ImageSet):
            self.feature_names_in_ = np.asarray(first.feature_names, dtype=object)
        names = getattr(self, "feature_names_in_", None)
        self._alpha_cols = (
            np.array([i for i, n in enumerate(names) if str(n).startswith("alpha_")])
            if names is not None
            else np.arange(self.n_features_in_)
        )

    def _model(self) -> MorphableModel:
        return resolve_model(self.model)

    def _initial_cnet(self) -> dict:
        if self.cnet_weights == "scratch":
            path = None
        elif self.cnet_weights is not None:
            path = self.cnet_weights
        else:
            path = (
                verified_path(EMBEDDED_CNET, EMBEDDED_CNET.with_suffix(".sha256"))
                if EMBEDDED_CNET.is_file()
                else None
            )
        n_alpha = len(self._alpha_cols) if hasattr(self, "_alpha_cols") else self._model().n_identity
        if path is not None:
            loaded = _load_cnet(str(path))
            if loaded["net"].n_coef == n_alpha:
                net = CNet(n_alpha, loaded["net"].head.in_features)
                net.load_state_dict(loaded["net"].state_dict())
                return {**loaded, "net": net}
            if self.cnet_weights not in (None, "scratch"):
                raise ModelFileError(
                    f"C-Net {path} is for {loaded['net'].n_coef} identity coefficients, the input has {n_alpha}"
                )
        return {
            "net": CNet(n_alpha),
            "mean": np.zeros(n_alpha, np.float32),
            "scale": np.ones(n_alpha, np.float32),
            "method": None,
        }

    def _descriptors(self, sets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded (s, k, n_alpha + N_QUALITY) descriptors, alphas and masks."""
        k = max(len(r) for r, _ in sets)
        n = len(self._alpha_cols)
        desc = np.zeros((len(sets), k, n + 5), np.float32)
        alpha = np.zeros((len(sets), k, n), np.float32)
        mask = np.zeros((len(sets), k), np.float32)
        for i, (rows, recons) in enumerate(sets):
            if recons is None:
                raise ValueError(
                    "method='cnet' needs the image sets returned by Reconstruct3DMM (per-photo landmarks and pose)"
                )
            a = rows[:, self._alpha_cols]
            alpha[i, : len(a)] = a
            desc[i, : len(a), :n] = (a - self.cnet_["mean"]) / self.cnet_["scale"]
            desc[i, : len(a), n:] = quality_features(recons)
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
        model = self._model()
        if len(self._alpha_cols) != model.n_identity:
            raise ValueError(f"C-Net training needs all {model.n_identity} alpha columns of {model.name}")
        rows = np.concatenate([r[:, self._alpha_cols] for r, _ in sets])
        if self.cnet_["method"] is None:  # from scratch: scale inputs on these data
            self.cnet_["mean"], self.cnet_["scale"] = rows.mean(0), rows.std(0) + 1e-6
        desc, alpha, mask = self._descriptors(sets)
        k = alpha.shape[1]
        lm = np.zeros((len(sets), k, 68, 2), np.float32)
        beta = np.zeros((len(sets), k, model.n_expression), np.float32)
        rot = np.tile(np.eye(3, dtype=np.float32), (len(sets), k, 1, 1))
        trans = np.zeros((len(sets), k, 3), np.float32)
        trans[..., 2] = 1
        focal = np.ones((len(sets), k), np.float32)
        center = np.zeros((len(sets), k, 2), np.float32)
        for i, (_, recons) in enumerate(sets):
            for j, r in enumerate(recons):
                lm[i, j], beta[i, j] = r.landmarks, r.coefficients["beta"]
                rot[i, j], trans[i, j] = r.rotation, r.translation
                focal[i, j], center[i, j] = r.focal, r.center
        lm_t = torch.tensor(lm)
        spread = (lm_t - lm_t.mean(2, keepdim=True)).square().sum(-1).mean(-1).sqrt().clamp_min(1e-3)
        t = model.tensors("cpu", torch.float32)
        inner = model.landmark_indices[17:]
        mean_lm, id_lm, exp_lm = t["mean"][inner], t["identity"][:, inner], t["expression"][:, inner]
        exp_part = torch.einsum("skj,jnd->sknd", torch.tensor(beta), exp_lm)
        net = self.cnet_["net"].train()
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        batch = 64
        rot_t, trans_t, focal_t, center_t = map(torch.tensor, (rot, trans, focal, center))
        for _ in range(self.epochs):
            perm = torch.randperm(len(sets), generator=gen)
            total = 0.0
            for s in range(0, len(sets), batch):
                b = perm[s : s + batch]
                agg = aggregate(net(desc[b]), alpha[b], mask[b])  # (bs, n_id)
                shape = (
                    mean_lm + torch.einsum("sj,jnd->snd", agg, id_lm)[:, None] + exp_part[b]
                )  # (bs, k, 51, 3)
                bs = len(b)
                cam = transform(
                    shape.reshape(bs * k, -1, 3), rot_t[b].reshape(-1, 3, 3), trans_t[b].reshape(-1, 3)
                )
                proj = project(cam, focal_t[b].reshape(-1), center_t[b].reshape(-1, 2)).reshape(bs, k, -1, 2)
                err = (proj - lm_t[b][:, :, 17:]).square().sum(-1).mean(-1) / spread[b].square()
                loss = (err * mask[b]).sum() / mask[b].sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * bs
            self.history_.append(total / len(sets))
        net.eval()
        self.cnet_["method"] = "trained"

    def save_cnet(self, path: str | Path) -> None:
        """Write the C-Net (weights and input scaling) for ``cnet_weights=`` or embedding."""
        check_is_fitted(self, "cnet_")
        net = self.cnet_["net"]
        torch.save(
            {
                "state_dict": net.state_dict(),
                "n_coef": net.n_coef,
                "hidden": net.head.in_features,
                "mean": torch.tensor(self.cnet_["mean"]),
                "scale": torch.tensor(self.cnet_["scale"]),
                "method": "label-free landmark loss",
            },
            path,
        )
