"""skorch classifiers: a residual network over 3DMM coefficients, and the pixel baseline the
paper compares to.

Both follow scikit-learn's conventions on top of skorch: string labels, ``random_state``
(identical results on CPU for identical inputs), ``device="auto"``, early stopping on a
stratified hold-out, class weights, label smoothing, a cosine learning-rate schedule, mixup,
and ``module__*`` / ``optimizer__*`` parameters reachable from ``GridSearchCV``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_consistent_length, check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, LRScheduler
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import is_dataset
from torch import nn

from .nets import CoefMLP, ImageResNet


class _AutoDevice:
    """``device`` as a parameter that may be ``"auto"``: skorch reads the resolved device,
    ``get_params`` (and so ``clone``) sees the value the user passed."""

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        raw = obj.__dict__.get("device", "cpu")
        if raw == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return raw

    def __set__(self, obj, value):
        obj.__dict__["device"] = value


@contextlib.contextmanager
def _seeded(random_state):
    """Run with torch's CPU (and CUDA) generators seeded, restoring them afterwards."""
    if random_state is None:
        yield
        return
    seed = int(check_random_state(random_state).randint(2**31 - 1))
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class _SklearnNet(NeuralNetClassifier):
    """Shared conventions; subclasses define ``_prepare`` (X to a float tensor/array)."""

    device = _AutoDevice()

    def __init__(
        self,
        module,
        *,
        criterion=nn.CrossEntropyLoss,
        max_epochs=30,
        lr=1e-3,
        batch_size=64,
        optimizer=torch.optim.AdamW,
        random_state=None,
        early_stopping=False,
        patience=5,
        validation_fraction=0.15,
        class_weight=None,
        label_smoothing=0.0,
        lr_schedule=None,
        mixup=0.0,
        device="auto",
        verbose=0,
        train_split=None,
        **kwargs,
    ):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            device=device,
            verbose=verbose,
            train_split=train_split,
            **kwargs,
        )
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.lr_schedule = lr_schedule
        self.mixup = mixup

    # ------------------------------------------------------------------ scikit-learn side
    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__["device"]
        return params

    def fit(self, X, y, groups=None, **fit_params):
        """Train from scratch, or with ``warm_start=True`` on a fitted net, continue training it
        for ``max_epochs`` more (same classes, same input scaling).

        Parameters
        ----------
        X : see the class docstring
        y : labels of any type
        groups : array-like of shape (n_samples,), optional
            Who each sample belongs to (a person, a source photo). With early stopping the
            hold-out then takes whole groups, so the epoch kept is the one that generalises
            to unseen groups, not to more photos of people already trained on. Passed by
            ``cross_val_score(..., params={"groups": g})`` once
            ``est.set_fit_request(groups=True)`` and metadata routing are on.
        """
        if "sample_weight" in fit_params:
            raise ValueError(
                f"{type(self).__name__} does not support sample_weight; use class_weight='balanced' "
                "for unequal classes, or resample the training set"
            )
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        warm = self.warm_start and getattr(self, "initialized_", False) and hasattr(self, "label_encoder_")
        if warm:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if len(unseen):
                raise ValueError(
                    f"warm_start: y has classes {unseen.tolist()} the fitted net does not know "
                    f"({self.classes_.tolist()}); fit from scratch (warm_start=False)"
                )
        else:
            self.label_encoder_ = LabelEncoder().fit(y)
            if len(self.label_encoder_.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes; got 1 class in y")
        y_enc = self.label_encoder_.transform(y).astype(np.int64)
        if groups is not None:
            groups = column_or_1d(groups)
            check_consistent_length(y, groups)
        Xp = self._prepare(X, fitting=not warm)
        if len(Xp) != len(y_enc):
            raise ValueError(f"X has {len(Xp)} samples but y has {len(y_enc)}")
        if not warm:
            if self.class_weight is not None:
                w = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
                self.class_weight_ = torch.as_tensor(w, dtype=torch.float32)
            else:
                self.class_weight_ = None
        if not warm:
            # validation data for early stopping: the user's train_split, or a stratified hold-out
            self.hold_out_ = bool(
                self.early_stopping and (self.train_split is not None or self._can_hold_out(y_enc, groups))
            )
        with _seeded(self.random_state):
            if not warm:
                self.initialize()
            self._groups = groups  # read by get_split_datasets, for this fit only
            try:
                NeuralNetClassifier.partial_fit(self, Xp, y_enc, _routing_method="fit", **fit_params)
            finally:
                del self._groups
        return self

    @property
    def partial_fit(self):
        """Not offered: inputs are standardised on the data ``fit`` sees (use ``fit``)."""
        raise AttributeError(f"{type(self).__name__} has no partial_fit; train with fit")

    def __setstate__(self, state):
        raw = state.get("device")
        if raw == "auto":
            state = {**state, "device": "cuda" if torch.cuda.is_available() else "cpu"}
        super().__setstate__(state)
        self.__dict__["device"] = raw

    @property
    def classes_(self):
        return self.label_encoder_.classes_

    def predict_proba(self, X):
        check_is_fitted(self, "label_encoder_")
        if is_dataset(X):  # skorch's own validation scoring: already prepared
            return super().predict_proba(X)
        # the DataLoader draws a seed from torch's global generator: keep the user's stream intact
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            return super().predict_proba(self._prepare(X, fitting=False)).astype(np.float64)

    def predict(self, X):
        index = self.predict_proba(X).argmax(1)
        return index if is_dataset(X) else self.classes_[index]

    # ------------------------------------------------------------------ skorch side
    def get_params_for(self, prefix):
        params = super().get_params_for(prefix)
        if prefix == "module" and hasattr(self, "label_encoder_"):
            params.setdefault("n_classes", len(self.classes_))
            params.update(self._module_shape())
        return params

    def _module_shape(self) -> dict:
        return {}

    def initialize_criterion(self):
        super().initialize_criterion()
        weight = getattr(self, "class_weight_", None)
        if weight is not None or self.label_smoothing:
            self.criterion_ = nn.CrossEntropyLoss(
                weight=None if weight is None else weight.to(self.device),
                label_smoothing=float(self.label_smoothing),
            )
        return self

    def train_step_single(self, batch, **fit_params):
        """One step; with ``mixup > 0`` on convex mixtures of sample pairs and their labels
        (Zhang et al. 2018), the mixing weight drawn from Beta(mixup, mixup)."""
        if not self.mixup:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        lam = float(torch.distributions.Beta(self.mixup, self.mixup).sample())
        perm = torch.randperm(len(yi))
        Xm = lam * Xi + (1 - lam) * Xi[perm]
        y_pred = self.infer(Xm, **fit_params)
        loss = lam * self.get_loss(y_pred, yi, X=Xm, training=True) + (1 - lam) * self.get_loss(
            y_pred, yi[perm], X=Xm, training=True
        )
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_iterator(self, dataset, training=False):
        if not training:
            return super().get_iterator(dataset, training)
        kwargs = self.get_params_for("iterator_train")
        batch_size = kwargs.pop("batch_size", self.batch_size)
        batch_size = len(dataset) if batch_size == -1 else batch_size
        if len(dataset) > 1 and len(dataset) % batch_size == 1:
            kwargs["drop_last"] = True  # a last batch of one sample breaks BatchNorm
        return self.iterator_train(dataset, batch_size=batch_size, **kwargs)

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        if self.early_stopping and getattr(self, "hold_out_", True):
            callbacks.append(("early_stopping", EarlyStopping(patience=self.patience, load_best=True)))
        if self.lr_schedule == "cosine":
            callbacks.append(("lr_schedule", LRScheduler("CosineAnnealingLR", T_max=self.max_epochs)))
        elif self.lr_schedule is not None:
            raise ValueError(f"lr_schedule must be None or 'cosine', got {self.lr_schedule!r}")
        return callbacks

    def _can_hold_out(self, y, groups=None) -> bool:
        """A stratified hold-out needs two samples of every class and at least one per class
        on the held-out side (with ``groups``: every class in two groups or more); smaller
        training sets are trained on whole (no early stopping)."""
        counts = np.bincount(np.asarray(y))
        if groups is not None:
            pairs = np.unique(np.c_[np.asarray(y), np.unique(groups, return_inverse=True)[1]], axis=0)
            return np.bincount(pairs[:, 0], minlength=len(counts)).min() >= 2
        n_valid = int(np.ceil(self.validation_fraction * len(y)))
        return counts.min() >= 2 and n_valid >= len(counts) and len(y) - n_valid >= len(counts)

    def _group_hold_out(self, y, groups) -> tuple[np.ndarray, np.ndarray]:
        """Training and held-out indices: whole groups held out, about ``validation_fraction``
        of them, class proportions kept as far as groups allow (StratifiedGroupKFold's first
        fold)."""
        from sklearn.model_selection import StratifiedGroupKFold

        n_splits = max(2, round(1 / self.validation_fraction))
        n_splits = min(n_splits, len(np.unique(groups)))
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        return next(cv.split(np.zeros(len(y)), y, groups))

    def get_split_datasets(self, X, y=None, **fit_params):
        if self.early_stopping and self.train_split is None and getattr(self, "hold_out_", False):
            dataset = self.get_dataset(X, y)
            groups = getattr(self, "_groups", None)
            if groups is not None:
                train, valid = self._group_hold_out(np.asarray(y), groups)
                return torch.utils.data.Subset(dataset, train), torch.utils.data.Subset(dataset, valid)
            split = ValidSplit(
                self.validation_fraction,
                stratified=True,
                random_state=check_random_state(self.random_state).randint(2**31 - 1),
            )
            return split(dataset, y, **fit_params)
        return super().get_split_datasets(X, y, **fit_params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


COEF_DEFAULTS = {
    "max_epochs": 200,
    "lr": 1e-3,
    "batch_size": 128,
    # strong decoupled weight decay: the weights stay small, so the decision function stays
    # smooth between the few distinct photos behind a training set (sets of 3 are all
    # combinations of 11-20 photos per person); chosen on the demo's rows (seed 0), checked
    # on seeds 1-4 (benchmarks/bench_classifier_seeds.py) and the real expressions (bench_real.py)
    "optimizer__weight_decay": 2.0,
    "optimizer__foreach": True,  # one fused update over all weights: 2-3x faster steps on CPU
    "early_stopping": True,
    "patience": 25,
    "label_smoothing": 0.1,
    "lr_schedule": "cosine",
}


class CoefResNetClassifier(_SklearnNet):
    """A residual network classifying faces from their 3DMM coefficients.

    By default an ensemble of 8 residual MLPs trained at once (:class:`sk3dmm.nets.CoefMLP`),
    trained the way small tabular problems want: AdamW with weight decay, a cosine
    learning-rate schedule, label smoothing, Gaussian input noise and early stopping on a
    stratified 15% hold-out (best epoch's weights restored). The
    paper's network, a ResNet-34 over the coefficient vector read as a 1-D signal, is
    ``module=sk3dmm.nets.CoefResNet``; on coefficients it trains slower and classifies worse
    (a convolution assumes neighbouring coefficients are related, which they are not; see
    the README's experiments).

    Coefficients are standardised inside (mean and scale learnt in ``fit``), so ``alpha``,
    ``beta`` or both can be fed as they come from :class:`sk3dmm.Reconstruct3DMM`.

    Parameters
    ----------
    module : torch module class, default=CoefMLP
        Gets ``n_features`` and ``n_classes`` from the data and ``module__*`` parameters,
        e.g. ``module__width=128``, ``module__n_blocks=3``, ``module__dropout=0.3``,
        ``module__n_members=1`` (one MLP), ``module__input_noise=0.0``; for
        ``CoefResNet``: ``module__depth``, ``module__width``, ``module__dropout``.
    max_epochs, lr, batch_size, optimizer : default=200, 1e-3, 128, AdamW
        ``optimizer__weight_decay`` (default 2.0: strong, see the README's classifier
        paragraph) etc. reach the optimizer.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` (default 0.15, stratified) and stop after
        ``patience`` (default 25) epochs without a lower validation loss, keeping the best
        weights. ``fit(X, y, groups=people)`` holds out whole people instead (use it when
        the test photos are of people not trained on: the epoch kept is then the one that
        generalises to new people). Training sets too small to hold out one sample per class
        are trained whole (``hold_out_`` says which happened).
    label_smoothing : float, default=0.1
    lr_schedule : {"cosine", None}, default="cosine"
        Cosine annealing of the learning rate over ``max_epochs``.
    mixup : float, default=0.0
        > 0 trains on mixtures of sample pairs, the weight drawn from Beta(mixup, mixup).
    random_state : int, RandomState or None
        Seeds weight initialisation, the hold-out and shuffling; identical inputs give
        identical results on CPU. Torch's global generator is left as it was.
    warm_start : bool, default=False
        A second ``fit`` on a fitted net continues its training (``max_epochs`` more, same
        classes and input scaling) instead of starting again.
    class_weight : None or "balanced"
        ``sample_weight`` in ``fit`` is refused with a clear error; weigh classes here.
    device : {"auto", "cpu", "cuda"}, default="auto"
    verbose : int, default=0
        skorch's epoch table when > 0.

    Attributes
    ----------
    classes_ : ndarray of labels
    n_features_in_ : int
    mean_, scale_ : ndarray, the standardisation
    hold_out_ : bool, whether early stopping had validation data
    module_ : the trained torch module
    history : skorch History

    Examples
    --------
    >>> import numpy as np
    >>> from sk3dmm import CoefResNetClassifier
    >>> X = np.random.default_rng(0).normal(size=(60, 20)).astype("float32")
    >>> y = np.where(X[:, 0] > 0, "happy", "sad")
    >>> clf = CoefResNetClassifier(max_epochs=20, random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict_proba(X[:3]).shape
    (['happy', 'sad'], (3, 2))

    The paper's 1-D ResNet-34 instead:

    >>> from sk3dmm.nets import CoefResNet
    >>> paper = CoefResNetClassifier(module=CoefResNet, module__depth=34, max_epochs=2, random_state=0)
    >>> paper.fit(X, y).predict(X[:2]).shape
    (2,)
    """

    def __init__(self, module=CoefMLP, **kwargs):
        for key, value in COEF_DEFAULTS.items():
            kwargs.setdefault(key, value)
        super().__init__(module, **kwargs)

    def _prepare(self, X, fitting: bool) -> np.ndarray:
        X = validate_data(self, X, dtype=np.float32, reset=fitting)
        if fitting:
            self.mean_ = X.mean(0)
            self.scale_ = X.std(0)
            self.scale_[self.scale_ < 1e-8] = 1.0
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def _module_shape(self) -> dict:
        return {"n_features": self.n_features_in_}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The loss; an ensemble's training output ``(n, members, classes)`` gives every
        member its own loss on the true labels (averaged), as TabM trains its members."""
        if y_pred.ndim == 3:
            n, k, c = y_pred.shape
            y_true = torch.as_tensor(y_true, device=y_pred.device).repeat_interleave(k)
            y_pred = y_pred.reshape(n * k, c)
        return super().get_loss(y_pred, y_true, X=X, training=training)


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class ImageResNetClassifier(_SklearnNet):
    """The pixel baseline: a 2-D ResNet-34 (torchvision layout) on resized face images.

    Parameters
    ----------
    image_size : int, default=112
        Images (arrays of any size, grayscale/RGBA too, or paths) are resized to this square
        and normalised with ImageNet statistics.
    module : torch module class, default=ImageResNet
        ``module__depth``, ``module__width``, ``module__dropout`` reach it.
    Other parameters as :class:`CoefResNetClassifier`.

    Examples
    --------
    >>> import numpy as np
    >>> from sk3dmm import ImageResNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, (12, 40, 40, 3), dtype=np.uint8)
    >>> y = ["bright" if i % 2 else "dark" for i in range(12)]
    >>> X[1::2] //= 2
    >>> clf = ImageResNetClassifier(image_size=32, max_epochs=2, module__depth=18, module__width=8,
    ...                             random_state=0).fit(X, y)
    >>> clf.predict(X[:2]).shape
    (2,)
    """

    def __init__(self, module=ImageResNet, image_size=112, **kwargs):
        super().__init__(module, **kwargs)
        self.image_size = image_size

    def _prepare(self, X, fitting: bool) -> np.ndarray:
        from PIL import Image

        from .faces import as_image_list, load_image

        items = as_image_list(X)
        out = np.empty((len(items), 3, self.image_size, self.image_size), np.float32)
        for i, item in enumerate(items):
            img = load_image(item, f"sample {i}")
            if img.shape[:2] != (self.image_size, self.image_size):
                img = np.asarray(
                    Image.fromarray(img).resize((self.image_size, self.image_size), Image.BILINEAR)
                )
            out[i] = ((img.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
