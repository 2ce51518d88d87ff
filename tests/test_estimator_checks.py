"""scikit-learn's estimator checks.

LandmarkFitter needs exactly 136 features (68 x/y pairs), while the checks feed random
data of 1 to 10 features, so the unmodified estimator fails them for that reason alone. The
checks are run on a test-only subclass that tiles any number of features into 68 landmarks;
every other line of LandmarkFitter (validation, fitting, dtype, pickling, set_output) is the
real one. A separate test shows the unmodified class rejects other widths clearly.

Reconstruct3DMM and ImageResNetClassifier take images or paths, not 2-D numeric arrays, so
the generic checks do not apply; tests/test_reconstruct.py and tests/test_classifiers.py cover
their contract (clone, params, pipelines, CV).

CoefResNetClassifier passes every check but two, each listed below with the reason.

SetAggregator takes image sets (ImageSet objects, 2-D arrays of per-photo coefficients or an
(n_sets, set_size, d) array); its tags say so (no 2-D input), and check_estimator then runs no
check at all. The checks run on a test-only subclass that reads the checks' (n, d) data as n
sets of one photo (a DataFrame as ImageSets carrying its column names); the validation,
aggregation, n_features_in_ / feature_names_in_ bookkeeping, tags and set_output are the real
class's. Methods mean, median, kmeans and kmeans_global pass every check (and the set_output
and feature-name checks that check_estimator no longer yields); "cnet" is left out, as it
needs the per-photo reconstructions (landmarks, pose, crops) of Reconstruct3DMM's sets and
tests/test_sets.py covers it. A separate test shows the unmodified class on its own input.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk3dmm import CoefResNetClassifier, LandmarkFitter, SetAggregator


def _mean_face_landmarks() -> np.ndarray:
    """The mean ICT face's 68 landmarks seen frontally, in pixels (about 100 px wide)."""
    from sk3dmm import load_ict_model

    model = load_ict_model()
    lm = model.mean[model.landmark_indices, :2].astype(np.float64)
    return (lm - lm.mean(0)) * [7.0, -7.0] + 200.0


class AnyWidthLandmarkFitter(LandmarkFitter):
    def _check_n_features_136(self, X):
        pass

    def _as_landmarks(self, X):
        # The checks' random features become small displacements of a real face's landmarks:
        # every fit is then well-posed, as with detector output. (Raw random point clouds make
        # the fit ill-conditioned, and last-bit BLAS differences between runs then change its
        # discrete decisions - step acceptance, active set - which check_fit_idempotent sees.)
        reps = -(-136 // X.shape[1])
        tiled = np.tile(X, (1, reps))[:, :136].reshape(len(X), 68, 2)
        return _mean_face_landmarks() + 2.0 * tiled


@parametrize_with_checks([AnyWidthLandmarkFitter()])  # at its defaults (float64, n_iter=4)
def test_sklearn_compatible_landmark_fitter(estimator, check):
    check(estimator)


def test_landmark_fitter_requires_136_features():
    with pytest.raises(ValueError, match="expects 136"):
        LandmarkFitter().fit(np.zeros((3, 10)))


COEF_RESNET_EXPECTED_FAILURES = {
    "check_no_attributes_set_in_init": "skorch's NeuralNet.__init__ sets history_, initialized_ and "
    "virtual_params_ and stores prefixed parameters (module__*) as attributes; that is how skorch "
    "makes module__* reachable from GridSearchCV",
    "check_set_params": "skorch's set_params re-initialises the component a parameter belongs to, "
    "which fails for the arbitrary values the check sets",
}  # the residual MLP now passes check_methods_subset_invariance and check_class_weight_classifiers


@parametrize_with_checks(
    [CoefResNetClassifier(max_epochs=20, random_state=0, module__width=32, batch_size=32)],
    expected_failed_checks=lambda est: COEF_RESNET_EXPECTED_FAILURES,
)
def test_sklearn_compatible_coef_resnet(estimator, check):
    check(estimator)


# ------------------------------------------------------------------------- SetAggregator
def _one_photo_sets(X):
    """Each row of the checks' 2-D data as a set of one photo: an (n, d) array becomes
    (n, 1, d); a DataFrame becomes a one-column frame (same index) of ImageSets that carry its
    column names, the form Reconstruct3DMM gives. Sparse data and other shapes pass unchanged."""
    from sk3dmm.transformers._image_sets import ImageSet

    if sp.issparse(X):
        return X
    if hasattr(X, "columns"):
        names = np.asarray(X.columns, dtype=object)
        sets = [ImageSet(row[None], names, None) for row in np.asarray(X, dtype=np.float64)]
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame({"sets": sets}, index=X.index)
        return sets
    values = np.asarray(X)
    return values[:, None] if values.ndim == 2 else X


class OnePhotoSetAggregator(SetAggregator):
    """SetAggregator fed the checks' (n, d) data as n sets of one photo (see _one_photo_sets)."""

    def fit(self, X, y=None):
        return super().fit(_one_photo_sets(X), y)

    def transform(self, X):
        return super().transform(_one_photo_sets(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = False
        return tags


SET_AGGREGATORS = [
    OnePhotoSetAggregator("mean"),
    OnePhotoSetAggregator("median"),
    OnePhotoSetAggregator("kmeans", random_state=0),
    OnePhotoSetAggregator("kmeans_global", n_clusters=2, random_state=0),
]


@parametrize_with_checks(SET_AGGREGATORS)
def test_sklearn_compatible_set_aggregator(estimator, check):
    check(estimator)


# Checks of estimator_checks that check_estimator (scikit-learn >= 1.8) no longer yields.
SET_OUTPUT_CHECKS = [
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
    "check_set_output_transform_polars",
    "check_global_set_output_transform_polars",
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
    "check_dataframe_column_names_consistency",
]


@pytest.mark.filterwarnings("ignore:X (has|does not have valid) feature names:UserWarning")
@pytest.mark.parametrize("check_name", SET_OUTPUT_CHECKS)
@pytest.mark.parametrize("estimator", SET_AGGREGATORS, ids=lambda est: est.method)
def test_set_aggregator_output_and_feature_name_checks(estimator, check_name):
    if "polars" in check_name:
        pytest.importorskip("polars", reason="polars is not installed (pip install 'sk3dmm[polars]')")
    getattr(estimator_checks, check_name)(type(estimator).__name__, clone(estimator))


class _ArrayLike:
    """Neither a list nor an ndarray: only ``__array__``, as scikit-learn's _NotAnArray."""

    def __init__(self, data):
        self.data = data

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.data, dtype=dtype)


def test_set_aggregator_input_forms():
    """The unmodified class: 2-D data is refused with the reshape to make, array-likes of
    (n_sets, set_size, d) are accepted, sparse data is refused by name."""
    sets = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    with pytest.raises(ValueError, match=r"got shape \(2, 12\)\. Reshape your data: X\[None\]"):
        SetAggregator().fit(sets.reshape(2, 12))
    out = SetAggregator().fit_transform(_ArrayLike(sets))
    np.testing.assert_array_equal(out, sets.mean(1))
    assert out.dtype == np.float32
    with pytest.raises(TypeError, match="not sparse data"):
        SetAggregator().fit(sp.csr_matrix(sets[0]))
    with pytest.raises(ValueError, match="Complex data not supported"):
        SetAggregator().fit(sets + 1j)
    assert SetAggregator("kmeans_global").__sklearn_tags__().requires_fit
    assert not SetAggregator("mean").__sklearn_tags__().requires_fit


def test_set_aggregator_checks_the_feature_names_of_the_sets():
    from sk3dmm.transformers._image_sets import ImageSet

    rows = np.ones((2, 2), np.float32)
    alpha = ImageSet(rows, np.array(["alpha_0", "alpha_1"], dtype=object), None)
    beta = ImageSet(rows, np.array(["beta_0", "beta_1"], dtype=object), None)
    agg = SetAggregator().fit([alpha])
    assert agg.get_feature_names_out().tolist() == ["alpha_0", "alpha_1"]
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- beta_0"):
        agg.transform([beta])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        agg.transform([rows])
    agg.fit([rows])  # a refit without names forgets the old ones
    assert not hasattr(agg, "feature_names_in_")
    assert agg.get_feature_names_out().tolist() == ["x0", "x1"]
