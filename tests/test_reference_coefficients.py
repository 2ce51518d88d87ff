"""The same coefficients as the commit that wrote tests/data/reference_coefficients.npz
(``tools/make_reference_coefficients.py``, first before the stages redesign; rewritten at
0.8.0, whose fit takes joint pose-and-shape steps, and at 0.8.1, whose fit to points on fixed
vertices starts the steps from the affine pose, on an AMD EPYC): a refactoring of the
photo -> coefficients path must not move a row.

Bit for bit on the kind of CPU that wrote the fixture (Intel, as in CI then). The float32
networks (MediaPipe's, R-Net) round differently on other CPUs' kernels: on an AMD EPYC the
dlib + fit rows stayed bitwise, MediaPipe + fit moved by 1.8e-6 in ``alpha``, and the R-Net
rows by up to 4.5e-4 in ``alpha`` and 0.0085 mm in a translation of 880 mm. So rows are compared
within 2e-3 absolute plus 2e-5 relative: a real change of the path moves them far more."""

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
def test_rows_are_those_of_the_reference(photos, method, detector):
    est = Reconstruct3DMM(
        method=method, detector=detector, coef=("alpha", "beta", "pose"), on_error="nan", cache=False
    )
    rows = est.fit_transform(photos)
    expected = REFERENCE[f"{method}-{detector}"]
    assert np.isfinite(expected[:, 0]).sum() >= 6  # the reference has faces to compare
    np.testing.assert_array_equal(np.isfinite(rows), np.isfinite(expected))
    np.testing.assert_allclose(rows, expected, rtol=2e-5, atol=2e-3)
    fitted = np.stack(
        [r.fitted_landmarks if r is not None else np.full((68, 2), np.nan) for r in est.reconstructions_]
    ).astype(np.float32)
    np.testing.assert_allclose(fitted, REFERENCE[f"{method}-{detector}-fitted68"], rtol=0, atol=0.02)
