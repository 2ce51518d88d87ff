"""scikit-learn's estimator checks.

LandmarkFitter needs exactly 136 features (68 x/y pairs), while the checks feed random
data of 1 to 10 features, so the unmodified estimator fails them for that reason alone. The
checks are run on a test-only subclass that tiles any number of features into 68 landmarks;
every other line of LandmarkFitter (validation, fitting, dtype, pickling, set_output) is the
real one. A separate test shows the unmodified class rejects other widths clearly.

Reconstruct3DMM takes images or paths, not 2-D numeric arrays, so the generic checks do not
apply; tests/test_reconstruct.py covers its contract (clone, params, pipelines, CV).
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk3dmm import LandmarkFitter


class AnyWidthLandmarkFitter(LandmarkFitter):
    def _check_n_features_136(self, X):
        pass

    def _as_landmarks(self, X):
        reps = -(-136 // X.shape[1])
        tiled = np.tile(X, (1, reps))[:, :136]
        # spread the points out so they look like a face-sized point cloud
        return (tiled * 40.0 + np.arange(136) * 1.5).reshape(len(X), 68, 2)


@parametrize_with_checks([AnyWidthLandmarkFitter(n_iter=2, precision="float64")])
def test_sklearn_compatible_landmark_fitter(estimator, check):
    check(estimator)


def test_landmark_fitter_requires_136_features():
    with pytest.raises(ValueError, match="expects 136"):
        LandmarkFitter().fit(np.zeros((3, 10)))
