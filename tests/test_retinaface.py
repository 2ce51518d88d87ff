"""RetinaFace MobileNet-0.25 in torch, and the landmarkers it feeds: ``detector="retinaface"``,
the BlazeFace -> RetinaFace ``"cascade"`` and the whole-photo ``"none"``."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from sk3dmm.exceptions import ModelFileError
from sk3dmm.faces import detect_faces
from sk3dmm.faces._retinaface import (
    DATA_DIR,
    WEIGHTS_FILE,
    RetinaFace,
    decode,
    load_retinaface,
    nms,
    prior_boxes,
)
from sk3dmm.faces.landmarkers import _retinaface as cascade_module


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def detector():
    return RetinaFace()


def test_weights_are_the_published_file():
    from sk3dmm.morphable._files import sha256_of

    assert (
        sha256_of(DATA_DIR / WEIGHTS_FILE)
        == "ed6fa7d45a5179f03cb5ce82c73b0c6711372968e53782e88395acee88d319e1"
    )
    assert "MIT License" in (DATA_DIR / "RetinaFace-LICENSE").read_text()


def test_a_foreign_or_corrupt_file_is_named(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"body.stage1.0.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(ModelFileError, match="not RetinaFace"):
        load_retinaface(bad)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="not a readable PyTorch checkpoint"):
        load_retinaface(bad)


def test_a_module_prefix_is_accepted(tmp_path):
    state = torch.load(DATA_DIR / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    path = tmp_path / "dp.pth"
    torch.save({"module." + k: v for k, v in state.items()}, path)
    net = load_retinaface(path)
    assert torch.equal(net.ClassHead[0].conv1x1.bias, state["ClassHead.0.conv1x1.bias"])


def test_priors_follow_the_authors_layout():
    priors = prior_boxes(64, 96)
    per_level = [2 * int(np.ceil(64 / s) * np.ceil(96 / s)) for s in (8, 16, 32)]
    assert len(priors) == sum(per_level)
    # first cell of stride 8: centre (4, 4) px, sides 10 and 20 px
    np.testing.assert_allclose(priors[0], [4 / 96, 4 / 64, 10 / 96, 10 / 64])
    np.testing.assert_allclose(priors[1], [4 / 96, 4 / 64, 20 / 96, 20 / 64])
    np.testing.assert_allclose(priors[2, :2], [12 / 96, 4 / 64])  # the next cell along x
    last = priors[-1]
    np.testing.assert_allclose(last, [(2 + 0.5) * 32 / 96, (1 + 0.5) * 32 / 64, 256 / 96, 256 / 64])


def test_decode_of_zero_offsets_is_the_prior():
    priors = np.array([[0.5, 0.5, 0.2, 0.4]])
    boxes, points = decode(np.zeros((1, 4)), np.zeros((1, 10)), priors)
    np.testing.assert_allclose(boxes, [[0.4, 0.3, 0.6, 0.7]])
    np.testing.assert_allclose(points, np.full((1, 5, 2), 0.5))


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=float)
    assert nms(boxes, np.array([0.5, 0.9, 0.8]), 0.4).tolist() == [1, 2]


def test_astronaut_has_one_face_with_its_eyes_nose_and_mouth(detector, astronaut):
    faces = detector.detect_boxes([astronaut])[0]
    assert len(faces) == 1  # her suit's patch and the flag score under 0.3
    box, score, points = faces[0]
    assert score > 0.99
    mesh = detect_faces(astronaut, "mediapipe_v2")[0]
    eyes = mesh.landmarks[36:42].mean(0), mesh.landmarks[42:48].mean(0)
    side = box[3] - box[1]
    np.testing.assert_allclose(points[0], eyes[0], atol=0.08 * side)  # the photo-left eye first
    np.testing.assert_allclose(points[1], eyes[1], atol=0.08 * side)
    np.testing.assert_allclose(points[2], mesh.landmarks[30], atol=0.08 * side)
    np.testing.assert_allclose(points[3], mesh.landmarks[48], atol=0.08 * side)
    np.testing.assert_allclose(points[4], mesh.landmarks[54], atol=0.08 * side)


def test_a_mirrored_photo_gives_the_mirrored_box(detector, astronaut):
    box, _, points = detector.detect_boxes([astronaut])[0][0]
    mbox, _, mpoints = detector.detect_boxes([astronaut[:, ::-1]])[0][0]
    w = astronaut.shape[1]
    np.testing.assert_allclose([w - mbox[2], mbox[1], w - mbox[0], mbox[3]], box, atol=2.0)
    np.testing.assert_allclose(w - mpoints[1, 0], points[0, 0], atol=2.0)  # the eyes swap order


def test_a_batch_of_photos_of_other_sizes_gives_each_its_own_faces(detector, astronaut):
    small = astronaut[::2, ::2]
    wide = np.concatenate([astronaut, np.full_like(astronaut, 127)], 1)
    alone = [detector.detect_boxes([im])[0] for im in (astronaut, small, wide)]
    together = detector.detect_boxes([astronaut, small, wide])
    for a, b in zip(alone, together):
        assert len(a) == len(b) == 1
        np.testing.assert_allclose(a[0][0], b[0][0], atol=1.0)  # padded with the mean: same to a pixel
    np.testing.assert_allclose(together[1][0][0], together[0][0][0] / 2, atol=3.0)


def test_no_face_in_noise_and_empty_input(detector):
    noise = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    assert detector.detect_boxes([noise]) == [[]]
    assert detector.detect_boxes([]) == []


def test_retinaface_landmarker_gives_v2_points_and_scores(astronaut):
    face = detect_faces(astronaut, "retinaface")[0]
    ref = detect_faces(astronaut, "mediapipe_v2")[0]
    assert face.scheme == "mediapipe478" and face.extras["found_by"] == "retinaface"
    assert face.extras["blendshape_scores"].shape == (52,)
    side = ref.box[3] - ref.box[1]
    assert np.abs(face.points[:468, :2] - ref.points[:468, :2]).mean() < 0.02 * side  # 0.35 px here
    rf_box = RetinaFace(long_side=cascade_module.RETINAFACE_LONG_SIDE).detect_boxes([astronaut])[0][0][0]
    np.testing.assert_allclose(face.box, rf_box, atol=1e-3)  # the face reports RetinaFace's own box


def test_cascade_is_mediapipe_v2_where_blazeface_finds_the_face(astronaut):
    face = detect_faces(astronaut, "cascade")[0]
    ref = detect_faces(astronaut, "mediapipe_v2")[0]
    assert face.extras["found_by"] == "blazeface"
    np.testing.assert_array_equal(face.points, ref.points)


def test_cascade_falls_back_to_retinaface(astronaut, monkeypatch):
    v2 = cascade_module.default_face_landmarker_v2()
    monkeypatch.setattr(v2, "detect_boxes", lambda images: [[] for _ in images])
    face = detect_faces(astronaut, "cascade")[0]
    assert face.extras["found_by"] == "retinaface"
    assert (
        np.abs(face.points[:468, :2] - detect_faces(astronaut, "retinaface")[0].points[:468, :2]).max() == 0
    )


def test_whole_photo_mode_reads_a_portrait_without_detection(astronaut):
    portrait = astronaut[0:300, 80:380]  # the face fills a third of it
    face = detect_faces(portrait, "none")[0]
    ref = detect_faces(portrait, "mediapipe_v2")[0]
    assert face.extras["found_by"] == "photo"
    np.testing.assert_array_equal(face.box, [0, 0, 300, 300])
    assert np.abs(face.points[:468, :2] - ref.points[:468, :2]).mean() < 0.5
    # a photo that is not one face has none (its mesh says so)
    assert detect_faces(np.full((200, 200, 3), 90, np.uint8), "none") == []


def test_reconstruct_reports_which_detector_found_the_face(astronaut):
    from sk3dmm import Reconstruct3DMM

    frame = Reconstruct3DMM(detector="cascade", coef="beta").to_frame([astronaut, astronaut[0:300, 80:380]])
    assert frame["found_by"].tolist() == ["blazeface", "blazeface"]
    assert (frame["mesh_score"] > 0.9).all()
    frame = Reconstruct3DMM(detector="none", coef="beta").to_frame([astronaut[0:300, 80:380]])
    assert frame["found_by"].tolist() == ["photo"]


def test_the_default_cascade_gives_full_profiles_a_face():
    from sk3dmm import Reconstruct3DMM
    from sk3dmm.datasets import make_synthetic_faces

    assert Reconstruct3DMM().detector == "cascade"
    faces = make_synthetic_faces(2, image_size=256, expressions=("NE",), angles=("FL", "FR"), random_state=0)
    assert not any(detect_faces(im, "mediapipe_v2") for im in faces.images)  # BlazeFace + mesh: none
    found = [detect_faces(im, "cascade") for im in faces.images]
    assert all(len(f) == 1 and f[0].extras["found_by"] == "retinaface" for f in found)


def test_retinaface_faces_carry_its_five_keypoints(astronaut):
    face = detect_faces(astronaut, "retinaface")[0]
    rf = RetinaFace(long_side=cascade_module.RETINAFACE_LONG_SIDE).detect_boxes([astronaut])[0][0]
    np.testing.assert_allclose(face.keypoints, rf[2], atol=1e-3)
