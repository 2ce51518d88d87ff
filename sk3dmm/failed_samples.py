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


def _holds(dtype: np.dtype, fill) -> bool:
    """Whether an array of ``dtype`` stores ``fill`` as it is (a str dtype is widened to it)."""
    if dtype.kind == "O":
        return True
    value = np.asarray(fill)
    if value.ndim or value.dtype.kind not in "biufcUS":
        return False
    if "b" in (dtype.kind, value.dtype.kind) or dtype.kind in "US" or value.dtype.kind in "US":
        return value.dtype.kind == dtype.kind
    if dtype.kind in "fc":
        return value.dtype.kind in ("iufc" if dtype.kind == "c" else "iuf")
    info = np.iinfo(dtype)  # an integer dtype: an integer fill in its range
    return value.dtype.kind in "iu" and info.min <= int(value) <= info.max


def _probe_row(X):
    """The first row of X, NaN made 0: the estimator's output on it has the dtype and shape of
    its output on any row."""
    if hasattr(X, "iloc"):
        return X.iloc[:1].fillna(0.0)
    return np.nan_to_num(np.asarray(X, dtype=np.float64)[:1], nan=0.0)


def _wrapped_has(name: str):
    return lambda self: hasattr(self.estimator, name)


class SkipFailed(MetaEstimatorMixin, BaseEstimator):
    """Fit an estimator on the rows that reconstructed; give failed rows ``fill_value``.

    Parameters
    ----------
    estimator : estimator
        What follows the reconstruction (a classifier, a pipeline of scaler and classifier...).
    fill_value : object, default=np.nan
        The prediction of a failed row. ``predict`` keeps the dtype of the estimator's
        predictions when it holds ``fill_value`` (NaN or a number in floats, an int in range
        in ints, a str in strs, widened); otherwise (NaN with int or bool labels, say) it
        gives an object array of the predictions, as Python scalars, and ``fill_value``:
        ``[0, 1, nan]``. Pass ``fill_value=-1`` to keep int labels int. ``predict_proba``,
        ``decision_function`` and ``transform`` give float arrays with NaN rows there.

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

    def _scatter(self, method: str, X, fill=np.nan):
        """The estimator's ``method`` on the rows that reconstructed, ``fill`` in the others
        (methods other than predict: NaN in a float array)."""
        check_is_fitted(self, "estimator_")
        failed = failed_rows(X)
        if not failed.any():
            return np.asarray(getattr(self.estimator_, method)(X))
        kept = np.asarray(
            getattr(self.estimator_, method)(_probe_row(X) if failed.all() else _rows(X, ~failed))
        )
        if method != "predict":
            dtype = kept.dtype if kept.dtype.kind in "fc" else np.dtype(np.float64)
        elif not _holds(kept.dtype, fill):
            dtype = np.dtype(object)
        else:
            dtype = (
                np.result_type(kept.dtype, np.asarray(fill).dtype) if kept.dtype.kind in "US" else kept.dtype
            )
        out = np.empty((len(failed),) + kept.shape[1:], dtype=dtype)
        out[failed] = fill
        if not failed.all():
            out[~failed] = kept
        return out

    def predict(self, X):
        """The estimator's predictions; ``fill_value`` for failed rows (dtype: see ``fill_value``)."""
        return self._scatter("predict", X, self.fill_value)

    @available_if(_wrapped_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities; NaN rows for failed rows."""
        return self._scatter("predict_proba", X)

    @available_if(_wrapped_has("decision_function"))
    def decision_function(self, X):
        """The estimator's decision function; NaN rows for failed rows."""
        return self._scatter("decision_function", X)

    @available_if(_wrapped_has("transform"))
    def transform(self, X):
        """The estimator's transform; NaN rows for failed rows."""
        return self._scatter("transform", X)

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
