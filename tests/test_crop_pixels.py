"""``keep_crops``: ``transform`` samples only the crops its method reads, with the same rows and
the same crop geometry as when every crop is kept; ``reconstruct`` and image sets keep them."""

import numpy as np
import pytest

from sk3dmm import Reconstruct3DMM
from sk3dmm.faces import five_point_crop

from .test_profile_rnet import MeshSaysNoFace


@pytest.fixture(scope="module")
def both(astronaut):
    out = {}
    for keep in (False, True):
        est = Reconstruct3DMM(coef=("alpha", "beta", "pose"), keep_crops=keep, cache=False)
        out[keep] = (est.fit_transform([astronaut, astronaut[:, ::-1]]), est.reconstructions_)
    return out


def test_transform_skips_the_crops_pixels_and_keeps_the_rows(both):
    (rows, recons), (kept_rows, kept) = both[False], both[True]
    np.testing.assert_array_equal(rows, kept_rows)
    for r, k in zip(recons, kept):
        assert r.crop is None and k.crop.shape == (112, 112, 3)
        np.testing.assert_array_equal(r.crop_affine, k.crop_affine)
        assert r.crop_roll == k.crop_roll != 0.0


def test_reconstruct_keeps_the_crops(astronaut, both):
    est = Reconstruct3DMM(coef=("alpha", "beta", "pose"), cache=False).fit()
    recon = est.reconstruct([astronaut])[0]
    np.testing.assert_array_equal(recon.crop, both[True][1][0].crop)
    bare = est.reconstruct([astronaut], crops=False)[0]  # as the CLI's mesh / points / overlay ask
    assert bare.crop is None
    row = np.concatenate([bare.coefficients[b] for b in ("alpha", "beta", "pose")])
    np.testing.assert_array_equal(row, both[False][0][0])


def test_a_geometry_only_crop_is_the_sampled_crops_geometry(astronaut):
    from sk3dmm.faces import detect_faces

    face = detect_faces(astronaut, "mediapipe_v2")[0]
    spec = (np.array([[-3.0, 3, 0], [3, 3, 0], [0, 0, 2], [-2, -3, 0], [2, -3, 0]]), 96, 50.0)
    sampled = five_point_crop(astronaut, face.landmarks, spec)
    geometry = five_point_crop(astronaut.shape, face.landmarks, spec, pixels=False)
    assert geometry.pixels is None and sampled.pixels.shape == (96, 96, 3)
    for field in ("centre", "side"):
        np.testing.assert_array_equal(getattr(geometry, field), getattr(sampled, field))
    assert geometry.rotation == sampled.rotation and geometry.size == sampled.size


def test_a_face_the_profile_rnet_reads_is_cropped_without_keep_crops():
    from sk3dmm.datasets import make_synthetic_faces
    from sk3dmm.faces import register_landmarker

    register_landmarker("tests_mesh_says_no_face", MeshSaysNoFace)
    photo = make_synthetic_faces(1, image_size=256, angles=("FR",), random_state=0).images[0]
    out = {}
    for keep in (False, True):
        est = Reconstruct3DMM(detector="tests_mesh_says_no_face", keep_crops=keep, cache=False)
        out[keep] = (est.fit_transform([photo]), est.reconstructions_[0])
    assert out[False][1].row_from == "profile_rnet"
    np.testing.assert_array_equal(out[False][0], out[True][0])
    np.testing.assert_array_equal(out[False][1].crop, out[True][1].crop)


def test_image_sets_keep_the_crops_for_cnet(astronaut):
    sets = Reconstruct3DMM(cache=False).fit_transform([[astronaut, astronaut[:, ::-1]]])
    assert all(r.crop is not None for r in sets[0].reconstructions)
