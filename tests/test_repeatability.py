"""A photo's row does not depend on its batch nor on the run.

Measured on this suite's eight astronaut photos (``face_photos``) plus the astronaut itself,
each alone and in one batch of nine, on 2 x86-64 cores with torch 2.13 (CPU):

- float64 (the default of every estimator): bitwise equal, alone, in a batch, and over 20 calls.
- float32: bitwise equal over repeated calls of the same batch; against the batch, up to
  9.7e-5 in ``alpha`` / ``beta``, 3.2e-4 degrees and 5.4e-3 mm of camera translation - the
  batched matrix products take other BLAS kernels for other batch sizes (a matrix-vector
  product for one face), and since 0.8 the fit solves pose and shape as one float32 system
  (the float32 row is within 3.4e-4 of the float64 one; 0.7's alternating fit: 8.1e-6,
  7.6e-6 degrees and 1.2e-4 mm against the batch).
"""

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.utils.estimator_checks import check_methods_subset_invariance

from sk3dmm import LandmarkFitter, Reconstruct3DMM

from .test_estimator_checks import AnyWidthLandmarkFitter, _mean_face_landmarks

METHODS = ("landmarks", "rnet", "rnet_refined")
COEF = ("alpha", "beta", "pose")
N_REPEATS = 20
# float32, one photo alone vs in a batch (measured maxima above, with a factor ~3 of margin)
FLOAT32_SHAPE_ATOL = 3e-4  # measured 9.7e-5
FLOAT32_ANGLE_ATOL = 1e-3  # degrees, measured 3.2e-4
FLOAT32_TRANSLATION_ATOL = 1.6e-2  # mm, measured 5.4e-3


@pytest.fixture(scope="module")
def batch(face_photos, astronaut):
    """Nine photos with the astronaut in the middle (index 4)."""
    return face_photos[1:5] + [astronaut] + face_photos[5:]


@pytest.mark.parametrize("method", METHODS)
def test_float64_row_is_the_same_alone_in_a_batch_and_over_runs(method, batch, astronaut):
    est = Reconstruct3DMM(method=method, coef=COEF, cache=False)
    alone = est.fit_transform([astronaut])[0]
    np.testing.assert_array_equal(est.transform(batch)[4], alone)
    for _ in range(N_REPEATS):
        np.testing.assert_array_equal(est.transform([astronaut])[0], alone)


@pytest.mark.parametrize("method", METHODS)
def test_float32_row_is_repeatable_and_within_the_measured_batch_tolerance(method, batch, astronaut):
    est = Reconstruct3DMM(method=method, coef=COEF, precision="float32", cache=False)
    in_batch = est.fit_transform(batch)
    alone = est.transform([astronaut])[0]
    for _ in range(3):
        np.testing.assert_array_equal(est.transform(batch), in_batch)
    diff = np.abs(in_batch[4] - alone)
    assert diff[:153].max() <= FLOAT32_SHAPE_ATOL
    assert diff[153:156].max() <= FLOAT32_ANGLE_ATOL
    assert diff[156:].max() <= FLOAT32_TRANSLATION_ATOL


def _landmark_rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    face = _mean_face_landmarks()
    scales = rng.uniform(0.8, 1.2, n)
    return np.stack([((face - 200) * s + 200 + rng.normal(0, 2, face.shape)).reshape(-1) for s in scales])


def test_landmark_fitter_rows_are_the_same_alone_in_a_batch_and_over_runs():
    X = _landmark_rows(9)
    fitter = LandmarkFitter(coef=COEF).fit(X)
    alone = fitter.transform(X[4:5])[0]
    np.testing.assert_array_equal(fitter.transform(X)[4], alone)
    for _ in range(N_REPEATS):
        np.testing.assert_array_equal(fitter.transform(X[4:5])[0], alone)


def test_landmark_fitter_passes_subset_invariance_at_its_defaults():
    check_methods_subset_invariance("LandmarkFitter", AnyWidthLandmarkFitter())


def test_rows_do_not_depend_on_n_jobs(face_photos):
    """Detection runs on one torch thread in every worker, so the mesh, and the fit on it,
    has the same bits whichever process computed it."""
    one = Reconstruct3DMM(cache=False).fit_transform(face_photos[:4])
    two = Reconstruct3DMM(cache=False, n_jobs=2).fit_transform(face_photos[:4])  # threads
    np.testing.assert_array_equal(two, one)
    with parallel_backend("loky"):  # worker processes, which joblib gives one torch thread each
        processes = Reconstruct3DMM(cache=False, n_jobs=2).fit_transform(face_photos[:4])
    np.testing.assert_array_equal(processes, one)
