"""``beta`` from MediaPipe v2's blendshape scores: the name mapping and its sides, the fit with
the expression held, the ``blendshapes`` methods and coefficient block, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sk3dmm import Reconstruct3DMM
from sk3dmm.datasets import make_synthetic_landmarks
from sk3dmm.faces import MEDIAPIPE_BLENDSHAPES, MediaPipeFaceLandmarkerV2, detect_faces
from sk3dmm.fitting import fit_shape_and_pose
from sk3dmm.regressors._blendshapes import blendshape_mapping, scores_to_beta


def test_every_ict_blendshape_has_its_score(ict):
    names = list(ict.expression_names)
    mapping = blendshape_mapping(names)
    assert len(mapping) == 53
    picked = dict(zip(names, (MEDIAPIPE_BLENDSHAPES[i] for i in mapping)))
    assert picked["eyeBlink_L"] == "eyeBlinkLeft" and picked["mouthSmile_R"] == "mouthSmileRight"
    assert picked["browInnerUp_L"] == picked["browInnerUp_R"] == "browInnerUp"  # one score, both halves
    assert picked["cheekPuff_L"] == picked["cheekPuff_R"] == "cheekPuff"
    assert picked["jawOpen"] == "jawOpen"
    assert sorted(set(mapping)) == list(range(1, 52))  # every score but _neutral
    scores = np.random.default_rng(0).random((3, 52))
    beta = scores_to_beta(scores, names)
    assert beta.shape == (3, 53) and beta[:, names.index("jawOpen")].tolist() == scores[:, 25].astype(np.float32).tolist()


def test_left_is_the_subjects_left_in_both(ict, astronaut):
    """ICT's ``_L`` moves the subject's left side (where iBUG point 45, the left eye's outer
    corner, is); MediaPipe's ``...Right`` rises when the subject's right eye (mesh points
    around 33, the left of the photo) closes. So ``Left`` maps to ``_L``."""
    names = list(ict.expression_names)
    blink_l = np.linalg.norm(ict.expression_basis[names.index("eyeBlink_L")], axis=-1)
    moved = blink_l > 0.5 * blink_l.max()
    left_corner_x = ict.mean[ict.landmark_indices[45], 0]
    assert np.sign(ict.mean[moved, 0].mean()) == np.sign(left_corner_x)
    landmarker = MediaPipeFaceLandmarkerV2()
    points = landmarker.detect([astronaut])[0][0].points
    right_eye = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
    closed = points.copy()
    ys = closed[right_eye, 1]
    closed[right_eye, 1] = ys.mean() + 0.1 * (ys - ys.mean())
    before, after = landmarker.blendshapes(np.stack([points, closed]))
    rise = dict(zip(MEDIAPIPE_BLENDSHAPES, after - before))
    assert points[33, 0] < points[263, 0]  # the subject's right eye is on the photo's left
    assert rise["eyeBlinkRight"] > 0.3 and abs(rise["eyeBlinkLeft"]) < 0.05  # measured 0.46, 0.0


def test_fit_holds_a_given_expression_and_fits_identity(ict):
    data = make_synthetic_landmarks(16, noise_px=0.3, random_state=3)
    held = fit_shape_and_pose(ict, data.landmarks, data.focal, data.center, fixed_expression=data.beta)
    free = fit_shape_and_pose(ict, data.landmarks, data.focal, data.center)
    np.testing.assert_allclose(held.beta.numpy(), data.beta, atol=1e-6)  # exactly the given expression
    truth = torch.tensor(data.alpha, dtype=held.alpha.dtype)
    # identity given the true expression is closer to the truth than the joint fit's
    assert (held.alpha - truth).norm(dim=1).mean() < (free.alpha - truth).norm(dim=1).mean()
    wrong = fit_shape_and_pose(ict, data.landmarks, data.focal, data.center, fixed_expression=data.beta * 0)
    assert wrong.reprojection_error.mean() > held.reprojection_error.mean()
    with pytest.raises(ValueError, match="fixed_expression"):
        fit_shape_and_pose(ict, data.landmarks, data.focal, data.center, fixed_expression=data.beta[:, :5])


def test_blendshape_methods_on_the_astronaut(astronaut):
    photos = [astronaut, np.ascontiguousarray(astronaut[:, ::-1])]
    scores = np.stack([detect_faces(p, "mediapipe_v2")[0].extras["blendshape_scores"] for p in photos])
    est = Reconstruct3DMM(method="blendshapes", detector="mediapipe_v2", coef=("alpha", "beta", "blendshape_scores"))
    est.set_output(transform="pandas")
    frame = est.fit_transform(photos)
    names = list(est.model_.expression_names)
    # (a batch of two runs the networks batched: float32 rounding apart, measured 8e-6)
    np.testing.assert_allclose(frame.filter(like="beta_").to_numpy(), scores_to_beta(scores, names), atol=1e-4)
    np.testing.assert_allclose(frame.filter(like="blendshape_").to_numpy(), scores, atol=1e-4)
    assert list(frame.columns[-52:]) == [f"blendshape_{n}" for n in MEDIAPIPE_BLENDSHAPES]
    assert frame["beta_mouthSmile_L"].gt(0.5).all()  # she smiles
    assert np.abs(frame.filter(like="alpha_").to_numpy()).max() > 0.1  # identity is fitted
    for r in est.reconstructions_:
        assert r.reprojection_error < 3.0  # measured 1.2 px
    # the mirror image swaps the sides of the smile
    assert abs(frame["beta_mouthSmile_L"][0] - frame["beta_mouthSmile_R"][1]) < 0.1
    prior = Reconstruct3DMM(method="blendshapes_prior", detector="mediapipe_v2").fit_transform(photos)
    rnet = Reconstruct3DMM(method="rnet_blendshapes", detector="mediapipe_v2").fit_transform(photos)
    assert np.isfinite(prior).all() and np.isfinite(rnet).all()
    np.testing.assert_allclose(rnet[:, 100:], scores_to_beta(scores, names), atol=1e-4)  # (c): the scores as beta


def test_blendshapes_need_the_v2_detector_and_arkit_names():
    with pytest.raises(ValueError, match="mediapipe_v2"):
        Reconstruct3DMM(method="blendshapes", detector="mediapipe").fit()
    with pytest.raises(ValueError, match="mediapipe_v2"):
        Reconstruct3DMM(coef=("alpha", "blendshape_scores"), detector="hog").fit()
    with pytest.raises(ValueError, match="ARKit"):
        blendshape_mapping(["exp_0", "exp_1"])


def test_the_default_method_falls_back_to_the_neutral_prior():
    """blendshapes_prior with a detector without scores, or a model the scores do not name, is
    the plain dense fit (the prior on the neutral face)."""
    from sk3dmm.regressors import RegressionSettings
    from sk3dmm.regressors._blendshapes import OptionalBlendshapeRegressor

    class Unnamed:
        expression_names = ["exp_0", "exp_1"]
        n_identity, n_expression, expression_bounds, fingerprint = 3, 2, None, "unnamed"

    regressor = OptionalBlendshapeRegressor(RegressionSettings(model=Unnamed()))
    assert regressor.mapping is None
    np.testing.assert_array_equal(regressor._beta(np.ones(52), "mediapipe478"), np.zeros(2))
