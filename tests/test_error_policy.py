"""Every stage under ``on_error``: a photo whose detection, R-Net or fit fails becomes its own NaN
row and reason; under ``"raise"`` a typed error names it. The other photos keep the rows they
get without the failure, bit for bit."""

import re

import numpy as np
import pytest
import torch

import sk3dmm.regressors._dense_fit as dense_fit_module
from sk3dmm import Reconstruct3DMM, ReconstructionError
from sk3dmm.faces.landmarkers import landmarker_factory
from sk3dmm.nets._rnet import RNet

POISONED = 1  # the photo that fails, in a batch of three

DefaultLandmarker = landmarker_factory(Reconstruct3DMM().detector)  # the default detector's class


@pytest.fixture(scope="module")
def photos(face_photos):
    dark = (face_photos[2].astype(np.float32) * 0.3).astype(np.uint8)  # R-Net input mean < 0.2
    return [face_photos[0], dark, face_photos[4]]


@pytest.fixture(scope="module")
def clean_rows(photos):
    return {
        m: Reconstruct3DMM(method=m, cache=False).fit_transform(photos)
        for m in ("blendshapes_prior", "landmarks", "rnet")
    }


def _check(est, photos, clean, reason):
    out = est.fit_transform(photos)
    assert np.isnan(out[POISONED]).all()
    keep = [i for i in range(len(photos)) if i != POISONED]
    np.testing.assert_array_equal(out[keep], clean[keep])
    assert est.failures_["index"].tolist() == [POISONED]
    assert reason in est.failures_["reason"][0]
    assert reason.startswith(est.failures_["stage"][0])  # "detection", "the fit", "R-Net"
    with pytest.raises(ReconstructionError, match=rf"^sample {POISONED}: .*{re.escape(reason)}"):
        est.set_params(on_error="raise").fit_transform(photos)


def test_a_detector_crash_fails_only_its_photo(photos, clean_rows, monkeypatch):
    detect = DefaultLandmarker.detect
    bad_shape = photos[POISONED].shape

    def crashing(self, image):
        if image.shape == bad_shape:
            raise RuntimeError("simulated detector crash")
        return detect(self, image)

    monkeypatch.setattr(DefaultLandmarker, "detect", crashing)
    est = Reconstruct3DMM(on_error="nan", cache=False)
    _check(est, photos, clean_rows["blendshapes_prior"], "detection failed (RuntimeError: simulated detector crash)")


def test_a_singular_fit_fails_only_its_photo(photos, clean_rows, monkeypatch):
    fit = dense_fit_module.fit_shape_and_pose
    bad_focal = 1.2 * max(photos[POISONED].shape[:2])

    def singular(model, landmarks, focal, *args, **kwargs):
        if np.any(np.isclose(focal, bad_focal)):
            raise torch.linalg.LinAlgError("simulated singular system")
        return fit(model, landmarks, focal, *args, **kwargs)

    monkeypatch.setattr(dense_fit_module, "fit_shape_and_pose", singular)
    est = Reconstruct3DMM(on_error="nan", cache=False)
    _check(est, photos, clean_rows["blendshapes_prior"], "the fit failed (LinAlgError: simulated singular system)")


def test_non_finite_r_net_output_fails_only_its_photo(photos, clean_rows, monkeypatch):
    predict = RNet.predict_with_features

    def nan_for_dark_crops(self, x):
        coefs, feats = predict(self, x)
        dark = x.mean((1, 2, 3)) < 0.2
        return torch.where(dark[:, None], torch.nan, coefs), feats

    monkeypatch.setattr(RNet, "predict_with_features", nan_for_dark_crops)
    est = Reconstruct3DMM(method="rnet", on_error="nan", cache=False)
    _check(est, photos, clean_rows["rnet"], "R-Net gave non-finite values")
