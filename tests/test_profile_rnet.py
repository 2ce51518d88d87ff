"""``profiles="network"``: a face whose mesh is unusable gets the profile R-Net's row, from the crop
on RetinaFace's keypoints; every other face keeps its row."""

import numpy as np
import pytest
import torch

from sk3dmm import Reconstruct3DMM
from sk3dmm.faces import detect_faces, register_landmarker, unusable_mesh
from sk3dmm.faces._face import Face
from sk3dmm.fitting import euler_to_matrix, project
from sk3dmm.regressors._profile_rnet import _translation


class MeshSaysNoFace:
    """RetinaFace + mesh faces whose mesh score is set to zero (as on a profile the mesh
    network was not made for)."""

    scheme = "mediapipe478"
    gives_blendshapes = True
    key = "tests-mesh-says-no-face"

    def __init__(self, upsample: int = 1):
        pass

    def detect(self, image):
        return [
            Face(f.box, f.score, f.points, f.scheme, f.keypoints, {**f.extras, "mesh_score": 0.0})
            for f in detect_faces(image, "retinaface")
        ]


def _rows(photo, detectors=("retinaface", "tests_mesh_says_no_face")):
    register_landmarker("tests_mesh_says_no_face", MeshSaysNoFace)
    out = {}
    for detector in detectors:
        for profiles in ("fit", "network"):
            est = Reconstruct3DMM(
                detector=detector, profiles=profiles, coef=("alpha", "beta", "pose"), cache=False
            )
            out[detector, profiles] = est.reconstruct([photo])[0]
    return out


@pytest.fixture(scope="module")
def rows(astronaut):
    return _rows(astronaut)


@pytest.fixture(scope="module")
def profile_rows():
    """A full profile (a synthetic face at 90 degrees of yaw, 256 px) whose mesh is marked unusable."""
    from sk3dmm.datasets import make_synthetic_faces

    faces = make_synthetic_faces(1, image_size=256, angles=("FR",), random_state=0)
    return _rows(faces.images[0], ("tests_mesh_says_no_face",)), faces


def test_a_face_with_a_usable_mesh_keeps_its_row(rows):
    a, b = rows["retinaface", "fit"], rows["retinaface", "network"]
    for block in ("alpha", "beta", "pose"):
        np.testing.assert_array_equal(a.coefficients[block], b.coefficients[block])
    np.testing.assert_array_equal(a.crop, b.crop)


def test_a_frontal_face_with_an_unusable_mesh_keeps_the_fit(rows):
    # the astronaut is near frontal: the profile network does not see a profile, the fit stays
    fitted, profile = rows["tests_mesh_says_no_face", "fit"], rows["tests_mesh_says_no_face", "network"]
    assert profile.found_by == "retinaface" and profile.mesh_score == 0.0
    assert profile.row_from == "method"
    for block in ("alpha", "beta", "pose"):
        np.testing.assert_array_equal(fitted.coefficients[block], profile.coefficients[block])
    # its crop is made on the keypoints and not turned
    assert profile.crop_roll == 0.0 and fitted.crop_roll != 0.0
    assert not np.array_equal(profile.crop, fitted.crop)


def test_a_profile_with_an_unusable_mesh_gets_the_profile_rnet_row(profile_rows):
    rows, faces = profile_rows
    fitted, profile = rows["tests_mesh_says_no_face", "fit"], rows["tests_mesh_says_no_face", "network"]
    assert not np.allclose(fitted.coefficients["alpha"], profile.coefficients["alpha"])
    assert (fitted.row_from, profile.row_from) == ("method", "profile_rnet")
    for block in ("alpha", "beta", "pose"):
        assert np.isfinite(profile.coefficients[block]).all()
    true_yaw = faces["pose"][0, 0]
    assert abs(profile.coefficients["pose"][0]) >= 60 and np.sign(profile.coefficients["pose"][0]) == np.sign(
        true_yaw
    )
    # the translation solved from RetinaFace's keypoints puts the 68 points on the face
    size = np.ptp(profile.fitted_landmarks, axis=0).mean()
    assert profile.reprojection_error < 0.1 * size, (profile.reprojection_error, size)
    box = profile.box
    inside = (profile.fitted_landmarks >= box[:2] - 0.2 * size) & (
        profile.fitted_landmarks <= box[2:] + 0.2 * size
    )
    assert inside.all()
    yaw, pitch, roll = torch.deg2rad(torch.tensor(profile.coefficients["pose"][:3], dtype=torch.float64))
    np.testing.assert_allclose(profile.rotation, euler_to_matrix(yaw, pitch, roll).numpy(), atol=1e-5)


def test_the_mesh_is_unusable_only_for_retinaface_faces_the_mesh_rejects():
    face = Face(np.zeros(4), 0.9, np.zeros((478, 3)), "mediapipe478", np.zeros((5, 2)))
    assert not unusable_mesh(face)
    for found_by, score, expected in (
        ("retinaface", 0.01, True),
        ("retinaface", 0.5, False),
        ("blazeface", 0.0, False),
    ):
        f = Face(
            face.box,
            face.score,
            face.points,
            face.scheme,
            face.keypoints,
            {"found_by": found_by, "mesh_score": score},
        )
        assert unusable_mesh(f) is expected


def test_the_translation_is_recovered_from_five_projected_points():
    rng = np.random.default_rng(0)
    points = rng.normal(0, 5, (5, 3))
    shift, focal, center = np.array([1.5, -2.0, 60.0]), 800.0, np.array([320.0, 240.0])
    keypoints = project(torch.tensor(points + shift), torch.tensor(focal), torch.tensor(center)).numpy()
    np.testing.assert_allclose(_translation(points, keypoints, focal, center), shift, rtol=1e-9)


def test_profiles_needs_a_known_value(astronaut):
    with pytest.raises(ValueError, match="profiles"):
        Reconstruct3DMM(profiles="mesh").fit()


def test_a_corrupt_profile_rnet_file_is_detected(tmp_path, monkeypatch, ict):
    from sk3dmm.exceptions import ModelFileError
    from sk3dmm.nets import _embedded

    from .conftest import corrupt_copy

    bad = corrupt_copy(_embedded.PROFILE_WEIGHTS, tmp_path / "rnet_ict_profile.pt")
    (tmp_path / "rnet_ict_profile.sha256").write_text(
        _embedded.PROFILE_WEIGHTS.with_suffix(".sha256").read_text()
    )
    monkeypatch.setattr(_embedded, "PROFILE_WEIGHTS", bad)
    _embedded._verified_profile_rnet.cache_clear()
    try:
        with pytest.raises(ModelFileError, match="corrupt"):
            _embedded.load_profile_rnet(ict)
    finally:
        _embedded._verified_profile_rnet.cache_clear()


def test_to_frame_says_which_rows_the_profile_rnet_gave(profile_rows, astronaut):
    register_landmarker("tests_mesh_says_no_face", MeshSaysNoFace)
    _, faces = profile_rows
    frame = Reconstruct3DMM(detector="tests_mesh_says_no_face", cache=False, on_error="nan").to_frame(
        [faces.images[0], astronaut, np.zeros((64, 64, 3), np.uint8)]
    )
    assert frame["row_from"].tolist()[:2] == ["profile_rnet", "method"]
    assert frame["row_from"].isna().tolist() == [False, False, True]  # no face, no row
