"""Photo-like training renders: photo bank, backgrounds, hair, degradations, switches."""

import numpy as np
import pytest

from sk3dmm.morphable import load_ict_model
from sk3dmm.nets._rnet_io import RESCALE_CM, ict_template
from sk3dmm.render import (
    build_photo_bank,
    degrade,
    hair_albedo,
    ict_albedo,
    natural_backgrounds,
    random_albedo_params,
)
from sk3dmm.training import TrainConfig, render_training_crops


@pytest.fixture(scope="module")
def model():
    return load_ict_model()


@pytest.fixture(scope="module")
def bank(model, tmp_path_factory, astronaut):
    from PIL import Image

    path = tmp_path_factory.mktemp("bank") / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    return build_photo_bank([path], model, ict_template(model), RESCALE_CM, canvas_size=160, progress=False)


def test_photo_bank_takes_skin_from_the_photo(bank, model, astronaut):
    assert len(bank) == 1 and bank.canvases.shape == (1, 160, 160, 3)
    tex = bank.textures[0]
    assert tex.shape == (model.n_vertices, 3) and np.isfinite(tex).all()
    cheeks = model.region("face")
    skin = np.median(tex[cheeks], 0)
    # the astronaut's skin is a warm tone: red > green > blue, far from the grey of a failed sample
    assert skin[0] > skin[1] > skin[2] and skin[0] - skin[2] > 0.1  # measured 0.67 > 0.52 > 0.43
    # the mouth socket keeps the parametric dark colour, never the lips of a closed mouth
    assert np.allclose(tex[model.region("mouth_socket")], [0.22, 0.06, 0.06])  # measured 1.3e-9 off
    # the fitted camera puts the face where the canvas was centred on it (the 68 points' middle)
    import torch

    from sk3dmm.fitting import project, transform

    lm = torch.tensor(model.mean[model.landmark_indices][None])
    cam = transform(lm, torch.tensor(bank.rotation), torch.tensor(bank.translation))
    uv = project(cam, torch.tensor(bank.focal), torch.tensor(bank.center))[0].numpy()
    assert np.linalg.norm(uv.mean(0) - 80) < 12  # measured 3.0 px


def test_backgrounds_are_images_in_range_and_seeded():
    a = natural_backgrounds(6, 32, np.random.default_rng(0))
    b = natural_backgrounds(6, 32, np.random.default_rng(0))
    assert a.shape == (6, 32, 32, 3) and a.dtype == np.float32
    assert np.array_equal(a, b) and 0 <= a.min() and a.max() <= 1
    assert a.std(axis=(1, 2)).max() > 0.02  # not flat colours; measured 0.47


def test_hair_covers_the_scalp_not_the_face(model):
    rng = np.random.default_rng(3)
    base = ict_albedo(model, random_albedo_params(rng))
    changed = np.zeros(model.n_vertices, bool)
    for _ in range(5):
        changed |= (hair_albedo(model, base, rng) != base).any(1)
    lm = model.mean[model.landmark_indices]
    assert changed.sum() > 100  # measured 2,125 vertices
    # nothing below the brows changes on the front of the face (eyes, nose, mouth, chin)
    front = model.mean[:, 2] > lm[:, 2].min()
    assert not changed[front & (model.mean[:, 1] < lm[17:27, 1].min())].any()


def test_degrade_keeps_shape_and_type():
    img = (np.random.default_rng(0).uniform(0, 255, (64, 48, 3))).astype(np.uint8)
    outs = [degrade(img, np.random.default_rng(s)) for s in range(20)]
    assert all(o.shape == img.shape and o.dtype == np.uint8 for o in outs)
    assert any(np.ptp(o.astype(int)[..., 0] - o[..., 2]) == 0 for o in outs)  # some greyscale
    assert sum(not np.array_equal(o, img) for o in outs) >= 15  # measured 17 of the 20 seeds


def test_switches_render_photo_like_crops(model, bank):
    cfg = TrainConfig(
        render_size=160, photo_textures=1.0, context=0.5, backgrounds=1.0, hair=1.0, camera=1.0, mesh_crop=1.0
    )
    crops, targets, in_crop = render_training_crops(8, cfg, 0, model, progress=False, bank=bank)
    assert crops.shape == (8, 112, 112, 3) and crops.dtype == np.uint8
    assert np.isfinite(targets["angle"]).all() and np.isfinite(in_crop["landmarks"]).all()
    again, targets2, _ = render_training_crops(8, cfg, 0, model, progress=False, bank=bank)
    assert np.array_equal(crops, again) and np.array_equal(targets["angle"], targets2["angle"])
    plain, _, _ = render_training_crops(8, TrainConfig(), 0, model, progress=False)
    with pytest.raises(ValueError, match="canvases are 160 px"):
        render_training_crops(
            2, TrainConfig(render_size=96, context=1.0), 0, model, progress=False, bank=bank
        )
    # plain renders stand on one flat colour; photo-like ones on images
    corner = lambda c: c[:, :12, :12].reshape(len(c), -1, 3).std(1).mean()  # noqa: E731
    assert corner(crops) > corner(plain)


def test_context_renders_keep_the_bank_pose(model, bank):
    cfg = TrainConfig(render_size=160, context=1.0, photo_textures=1.0)
    _, targets, _ = render_training_crops(6, cfg, 1, model, progress=False, bank=bank)
    import torch

    from sk3dmm.fitting import matrix_to_euler

    yaw, pitch, roll = (np.rad2deg(a.item()) for a in matrix_to_euler(torch.tensor(bank.rotation[0])))
    # the new face is turned at most 12 / 6 / 6 degrees away from the photo's pose (plus coupling);
    # measured 10.5 (yaw) and 4.1 (pitch) at most
    assert np.all(np.abs(np.rad2deg(targets["angle"][:, 0]) - yaw) < 14)
    assert np.all(np.abs(np.rad2deg(targets["angle"][:, 1]) - pitch) < 8)
