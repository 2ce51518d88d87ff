import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from sk3dmm import FaceNotFoundError, ImageReadError, Reconstruct3DMM, clear_cache
from sk3dmm.pipeline._cache import RESULTS
from sk3dmm.pipeline._errors import SampleFailure


def test_astronaut_gives_finite_named_coefficients(astronaut):
    est = Reconstruct3DMM(coef=("alpha", "beta", "pose"))
    X = est.fit_transform(astronaut[None])
    assert X.shape == (1, 100 + 53 + 6) and X.dtype == np.float32
    assert np.isfinite(X).all()
    names = est.get_feature_names_out()
    assert names[0] == "alpha_0" and "beta_jawOpen" in names and names[-1] == "pose_tz"
    beta = X[0, 100:153]
    assert ((beta >= 0) & (beta <= 1)).all()
    # she smiles: the two smile blendshapes are among the strongest
    smile = beta[[list(names[100:153]).index(f"beta_mouthSmile_{s}") for s in "LR"]]
    assert smile.min() > np.median(beta)
    rec = est.reconstructions_[0]
    assert rec.reprojection_error < 3.0  # measured 1.10 px
    assert abs(X[0, -6]) < 20  # near-frontal yaw; measured 1.9 degrees


def test_pandas_output_and_coef_selection(face_photos):
    est = Reconstruct3DMM(coef="beta").set_output(transform="pandas")
    df = est.fit_transform(face_photos[:2])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:2]) == ["beta_browDown_L", "beta_browDown_R"]
    assert df.shape == (2, 53)


def test_input_forms_agree(tmp_path, astronaut):
    path = tmp_path / "a.png"
    Image.fromarray(astronaut).save(path)
    est = Reconstruct3DMM(coef="alpha")
    from_array = est.fit_transform(astronaut[None])
    from_path = est.transform([path])
    from_str = est.transform([str(path)])
    from_list = est.transform([astronaut])
    for other in (from_path, from_str, from_list):
        np.testing.assert_array_equal(from_array, other)


def test_cache_serves_repeated_images(astronaut):
    clear_cache()
    est = Reconstruct3DMM()
    first = est.fit_transform([astronaut])
    misses = RESULTS.misses
    again = clone(est).fit_transform([astronaut])
    assert RESULTS.hits >= 1 and RESULTS.misses == misses
    np.testing.assert_array_equal(first, again)
    # a setting that changes the result is not served from the cache
    other = Reconstruct3DMM(identity_reg=0.1).fit_transform([astronaut])
    assert not np.array_equal(first, other)


@pytest.fixture
def bad_inputs(tmp_path, astronaut):
    fake = tmp_path / "fake.jpg"
    fake.write_text("plain text, not an image")
    png16 = tmp_path / "face16.png"
    Image.fromarray((astronaut.mean(-1) * 257).astype(np.uint16)).save(png16)
    rgba = tmp_path / "face_rgba.png"
    Image.fromarray(np.dstack([astronaut, np.full((512, 512), 255, np.uint8)])).save(rgba)
    noface = np.full((300, 300, 3), 90, np.uint8)
    return [astronaut, noface, str(fake), png16, rgba]


def test_on_error_raise_names_the_first_failing_sample_with_its_type(bad_inputs):
    # sample 1 has no face, sample 2 is no image: the first failure in order is raised, typed
    with pytest.raises(FaceNotFoundError, match=r"^sample 1: no face detected\. Pass on_error="):
        Reconstruct3DMM(on_error="raise").fit_transform(bad_inputs)
    with pytest.raises(ImageReadError, match=r"sample 0 \(.*fake.jpg\): not a readable image"):
        Reconstruct3DMM(on_error="raise").fit_transform(bad_inputs[2:3])


def test_on_error_warn_and_nan_keep_the_batch(bad_inputs):
    est = Reconstruct3DMM(on_error="warn")
    with pytest.warns(SampleFailure, match="2 of the samples failed"):
        X = est.fit_transform(bad_inputs)
    ok = np.isfinite(X).all(1)
    assert ok.tolist() == [True, False, False, True, True]  # 16-bit and RGBA photos work
    assert np.isnan(X[~ok]).all()
    assert est.failures_["index"].tolist() == [1, 2]
    assert "no face" in est.failures_["reason"][0] and "not a readable image" in est.failures_["reason"][1]
    est = Reconstruct3DMM(on_error="nan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X2 = est.fit_transform(bad_inputs)
    np.testing.assert_array_equal(np.isnan(X2), np.isnan(X))
    assert len(est.failures_) == 2


def test_params_clone_and_validation():
    est = Reconstruct3DMM(coef="alpha", identity_reg=0.01, n_jobs=2)
    params = est.get_params()
    assert params["coef"] == "alpha" and params["identity_reg"] == 0.01
    twin = clone(est)
    assert twin.get_params() == params and twin is not est
    est.set_params(coef=("beta", "pose"))
    assert est.coef == ("beta", "pose")
    with pytest.raises(ValueError, match="on_error"):
        Reconstruct3DMM(on_error="ignore").fit()
    with pytest.raises(ValueError, match="coef must name blocks"):
        Reconstruct3DMM(coef="shape").fit()


def test_pipeline_and_cross_validation(face_photos):
    X = face_photos
    y = np.array([0, 1] * 4)
    pipe = make_pipeline(Reconstruct3DMM(coef="alpha"), LogisticRegression(max_iter=200))
    scores = cross_val_score(pipe, X, y, cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_parallel_detection_matches_serial(face_photos):
    clear_cache()
    serial = Reconstruct3DMM(cache=False, precision="float64")
    parallel = Reconstruct3DMM(cache=False, precision="float64", n_jobs=2)
    a, b = serial.fit_transform(face_photos[:4]), parallel.fit_transform(face_photos[:4])
    # what n_jobs changes (detection in worker processes) must give the same landmarks; the
    # MediaPipe networks run in float32 with the worker's own thread count, so the last bits
    # (1e-5 px) may differ (measured 0.0 here, on 2 cores)
    for r, q in zip(serial.reconstructions_, parallel.reconstructions_):
        np.testing.assert_allclose(r.landmarks, q.landmarks, atol=1e-3)
    # the fit itself runs in this process; BLAS may differ in the last bits between calls
    # (MKL chooses kernels by memory alignment), which float64 keeps far below 1e-3 (measured 0.0)
    np.testing.assert_allclose(a, b, atol=1e-3)
