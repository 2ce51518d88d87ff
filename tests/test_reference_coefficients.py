"""The same coefficients, bit for bit, as the commit that wrote tests/data/reference_coefficients.npz
(``tools/make_reference_coefficients.py``, before the stages redesign): a refactoring of the
photo -> coefficients path must not move a single float64-fitted row."""

from pathlib import Path

import numpy as np
import pytest

from sk3dmm import Reconstruct3DMM

from .reference_photos import reference_photos

REFERENCE = np.load(Path(__file__).parent / "data" / "reference_coefficients.npz")
CASES = [(m, d) for m in ("landmarks", "rnet", "rnet_refined") for d in ("mediapipe", "hog")]


@pytest.fixture(scope="module")
def photos():
    return reference_photos()


@pytest.mark.parametrize("method,detector", CASES)
def test_rows_are_bitwise_those_of_the_reference(photos, method, detector):
    est = Reconstruct3DMM(
        method=method, detector=detector, coef=("alpha", "beta", "pose"), on_error="nan", cache=False
    )
    rows = est.fit_transform(photos)
    expected = REFERENCE[f"{method}-{detector}"]
    assert np.isfinite(expected[:, 0]).sum() >= 6  # the reference has faces to compare
    np.testing.assert_array_equal(rows, expected)
    fitted = np.stack(
        [r.fitted_landmarks if r is not None else np.full((68, 2), np.nan) for r in est.reconstructions_]
    ).astype(np.float32)
    np.testing.assert_array_equal(fitted, REFERENCE[f"{method}-{detector}-fitted68"])
