"""SkipFailed with every kind of label: the dtype and values of what each method gives when
rows failed (issue #23: NaN written into an int array crashed predict, and into a bool array
silently became True)."""

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LinearRegression

from sk3dmm import SkipFailed

# Rows 0-1 are one class, 3-4 the other; row 2 failed (its label is never used).
X = np.array([[0.0], [0.1], [np.nan], [1.0], [1.1]])
FAILED = np.array([False, False, True, False, False])
LABELS = {  # kind: (first class, second class, predict's dtype when a row failed)
    "int": (3, 7, np.dtype(object)),
    "bool": (False, True, np.dtype(object)),
    "str": ("sad", "happy", np.dtype(object)),
    "float": (1.0, 2.0, np.dtype(np.float64)),
}


def _fit(kind: str, **params) -> tuple[SkipFailed, np.ndarray]:
    a, b, _ = LABELS[kind]
    y = np.array([a, a, b, b, b])
    return SkipFailed(LinearDiscriminantAnalysis(), **params).fit(X, y), y


def _is_nan(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


@pytest.mark.parametrize("kind", LABELS)
def test_predict_puts_nan_in_the_failed_row_and_keeps_the_labels(kind):
    clf, y = _fit(kind)
    a, b, dtype = LABELS[kind]
    pred = clf.predict(X)
    assert pred.dtype == dtype
    assert _is_nan(pred[2])
    assert pred[[0, 1, 3, 4]].tolist() == [a, a, b, b]
    assert [type(p) for p in pred[[0, 1, 3, 4]].tolist()] == [type(a)] * 4  # 3 stays an int, not 3.0
    np.testing.assert_array_equal(clf.predict(X[~FAILED]), np.array([a, a, b, b]))  # no failure: as is
    assert clf.predict(X[~FAILED]).dtype == y.dtype


@pytest.mark.parametrize("kind", LABELS)
@pytest.mark.parametrize("method", ["predict_proba", "decision_function", "transform"])
def test_other_methods_give_float_nan_rows(kind, method):
    clf, _ = _fit(kind)
    out = getattr(clf, method)(X)
    expected = getattr(clf.estimator_, method)(X[~FAILED])
    assert out.dtype == np.float64
    assert out.shape == (5,) + expected.shape[1:]
    assert np.isnan(out[2]).all()
    np.testing.assert_array_equal(out[~FAILED], expected)


@pytest.mark.parametrize("kind", LABELS)
def test_score_counts_the_failed_row_wrong(kind):
    clf, y = _fit(kind)
    assert clf.score(X, y) == pytest.approx(4 / 5)  # the 4 kept rows are right; measured 0.8 exactly
    y_wrong = y.copy()
    y_wrong[0] = y[4]
    assert clf.score(X, y_wrong) == pytest.approx(3 / 5)  # measured 0.6 + 1e-16
    assert clf.score(X[~FAILED], y[~FAILED]) == 1.0


@pytest.mark.parametrize(
    ("kind", "fill", "dtype", "expected"),
    [
        ("int", -1, np.dtype(np.int64), [3, 3, -1, 7, 7]),
        ("int", 0.5, np.dtype(object), [3, 3, 0.5, 7, 7]),
        ("bool", -1, np.dtype(object), [False, False, -1, True, True]),
        ("str", "failed", np.dtype("<U6"), ["sad", "sad", "failed", "happy", "happy"]),
        ("str", None, np.dtype(object), ["sad", "sad", None, "happy", "happy"]),
        ("float", -1, np.dtype(np.float64), [1.0, 1.0, -1.0, 2.0, 2.0]),
    ],
)
def test_a_fill_value_the_labels_dtype_holds_keeps_it(kind, fill, dtype, expected):
    clf, _ = _fit(kind, fill_value=fill)
    pred = clf.predict(X)
    assert pred.dtype == dtype
    assert pred.tolist() == expected
    assert [type(p) for p in pred.tolist()] == [type(e) for e in expected]


@pytest.mark.parametrize("kind", LABELS)
def test_every_row_failed(kind):
    clf, y = _fit(kind)
    nan_rows = np.full((2, 1), np.nan)
    pred = clf.predict(nan_rows)
    assert pred.dtype == LABELS[kind][2] and all(_is_nan(p) for p in pred)
    proba = clf.predict_proba(nan_rows)
    assert proba.dtype == np.float64 and proba.shape == (2, 2) and np.isnan(proba).all()
    assert clf.score(nan_rows, y[:2]) == 0.0


def test_regressor_predictions_stay_float():
    y = np.array([0.0, 1.0, 5.0, 10.0, 11.0])
    reg = SkipFailed(LinearRegression()).fit(X, y)
    pred = reg.predict(X)
    assert pred.dtype == np.float64 and np.isnan(pred[2])
    np.testing.assert_allclose(pred[~FAILED], reg.estimator_.predict(X[~FAILED]))  # measured 0.0 off
    assert reg.score(X, y) == pytest.approx(reg.estimator_.score(X[~FAILED], y[~FAILED]))  # measured 0.0 off
