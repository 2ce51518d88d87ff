"""Photos that failed to reconstruct, in a pipeline: leave their rows out of training, keep
their place in predictions.

``Reconstruct3DMM(on_error="nan")`` turns a photo without a usable face into a row of NaN;
scikit-learn estimators refuse such rows, and a Pipeline cannot drop rows (y would no longer
match). :class:`SkipFailed` wraps the estimator after the reconstruction so that it trains on
the rows that reconstructed and predicts ``fill_value`` for the others;
:func:`drop_failed` does the same by hand.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted


def failed_rows(X) -> np.ndarray:
    """Boolean mask of the rows of a coefficient table that hold a NaN (failed samples)."""
    values = np.asarray(X, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D table of coefficients, got shape {values.shape}")
    return ~np.isfinite(values).all(1)


def _rows(X, mask: np.ndarray):
    return X.iloc[mask] if hasattr(X, "iloc") else np.asarray(X)[mask]


def drop_failed(X, y=None):
    """The rows of X (and y) whose samples reconstructed, and the mask of those that failed.

    Parameters
    ----------
    X : (n, d) coefficients, NaN rows for failed samples (``Reconstruct3DMM(on_error="nan")``)
    y : (n,) or None

    Returns
    -------
    X_kept, y_kept (None when y is None), failed : boolean mask of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from sk3dmm import drop_failed
    >>> X = np.array([[0.1, 0.2], [np.nan, np.nan], [0.3, 0.4]])
    >>> X_kept, y_kept, failed = drop_failed(X, ["a", "b", "c"])
    >>> X_kept.shape, y_kept.tolist(), failed.tolist()
    ((2, 2), ['a', 'c'], [False, True, False])
    """
    failed = failed_rows(X)
    y_kept = None if y is None else _rows(y if hasattr(y, "iloc") else np.asarray(y), ~failed)
    return _rows(X, ~failed), y_kept, failed


def _wrapped_has(name: str):
    return lambda self: hasattr(self.estimator, name)


class SkipFailed(MetaEstimatorMixin, BaseEstimator):
    """Fit an estimator on the rows that reconstructed; give failed rows ``fill_value``.

    Parameters
    ----------
    estimator : estimator
        What follows the reconstruction (a classifier, a pipeline of scaler and classifier...).
    fill_value : object, default=np.nan
        The prediction of a failed row. ``predict_proba``, ``decision_function`` and
        ``transform`` give NaN rows there.

    Attributes
    ----------
    estimator_ : the fitted clone
    n_failed_fit_ : int, rows left out of ``fit``
    classes_ : for classifiers

    Notes
    -----
    ``score`` counts failed rows as wrong for classifiers (accuracy over all rows), so a
    pipeline that loses photos is not flattered; other estimators are scored on the rows that
    reconstructed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.svm import SVC
    >>> from sk3dmm import SkipFailed
    >>> X = np.array([[0.0], [0.1], [np.nan], [1.0], [1.1]])
    >>> y = ["sad", "sad", "happy", "happy", "happy"]
    >>> clf = SkipFailed(SVC()).fit(X, y)
    >>> clf.n_failed_fit_, clf.predict(X).tolist()
    (1, ['sad', 'sad', nan, 'happy', 'happy'])
    """

    _parameter_constraints: dict = {"estimator": [HasMethods(["fit"])], "fill_value": "no_validation"}

    def __init__(self, estimator, fill_value=np.nan):
        self.estimator = estimator
        self.fill_value = fill_value

    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``estimator`` on the rows of X without NaN."""
        self._validate_params()
        X_kept, y_kept, failed = drop_failed(X, y)
        if failed.all():
            raise ValueError(f"all {len(failed)} samples failed (NaN rows): nothing to fit")
        self.estimator_ = clone(self.estimator).fit(X_kept, y_kept, **fit_params)
        self.n_failed_fit_ = int(failed.sum())
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    @property
    def classes_(self):
        return self.estimator_.classes_

    def _scatter(self, method: str, X, fill):
        check_is_fitted(self, "estimator_")
        failed = failed_rows(X)
        if failed.all():
            kept = None
        else:
            kept = np.asarray(getattr(self.estimator_, method)(_rows(X, ~failed)))
        if not failed.any():
            return kept
        shape = (len(failed),) + (() if kept is None else kept.shape[1:])
        dtype = (
            object if kept is None or kept.dtype.kind in "OUS" or not isinstance(fill, float) else kept.dtype
        )
        out = np.empty(shape, dtype=dtype)
        out[...] = fill
        if kept is not None:
            out[~failed] = kept
        return out

    def predict(self, X):
        """The estimator's predictions; ``fill_value`` for failed rows."""
        return self._scatter("predict", X, self.fill_value)

    @available_if(_wrapped_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities; NaN rows for failed rows."""
        return self._scatter("predict_proba", X, np.nan)

    @available_if(_wrapped_has("decision_function"))
    def decision_function(self, X):
        return self._scatter("decision_function", X, np.nan)

    @available_if(_wrapped_has("transform"))
    def transform(self, X):
        return self._scatter("transform", X, np.nan)

    def score(self, X, y):
        """Accuracy over all rows, failed ones counted wrong (classifiers); otherwise the
        estimator's score on the rows that reconstructed."""
        check_is_fitted(self, "estimator_")
        X_kept, y_kept, failed = drop_failed(X, y)
        if failed.all():
            return 0.0 if is_classifier(self.estimator_) else np.nan
        score = self.estimator_.score(X_kept, y_kept)
        return score * (~failed).mean() if is_classifier(self.estimator_) else score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.transformer_tags = inner.transformer_tags
        tags.input_tags.allow_nan = True
        return tags
