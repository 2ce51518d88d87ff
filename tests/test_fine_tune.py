from dataclasses import replace

import numpy as np
import pytest
import torch

from sk3dmm import Reconstruct3DMM
from sk3dmm.fitting import euler_to_matrix
from sk3dmm.nets import DEEP3D_SIZES, RNet, RNetBundle, load_rnet, rnet_rotation
from sk3dmm.training import fine_tune_rnet


def test_rotation_conventions():
    angle = torch.tensor([[0.3, -0.2, 0.1], [-0.5, 0.1, 0.25]])
    torch.testing.assert_close(rnet_rotation(angle, deep3d=False), euler_to_matrix(*angle.T))  # measured 0.0
    # Deep3DFaceRecon's compute_rotation (rot_z @ rot_y @ rot_x, y up, camera on +z), then our flip
    # (float32 against float64: measured 4.7e-8 apart)
    for (x, y, z), got in zip(angle.numpy(), rnet_rotation(angle, deep3d=True).numpy()):
        rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
        np.testing.assert_allclose(got, np.diag([1, -1, -1]) @ rz @ ry @ rx, atol=1e-6)


def test_fine_tuning_on_unlabelled_photos_fits_them_better(ict, astronaut):
    photos = [astronaut, np.ascontiguousarray(astronaut[:, ::-1])]
    # dlib's 68 points: the reprojection error is then over the same 68 points the loss fits
    base = Reconstruct3DMM(method="rnet", coef=("alpha", "beta"), detector="hog").fit()
    before = [r.reprojection_error for r in base.reconstruct(photos)]
    embedded = load_rnet(None, ict)
    weights_before = {k: v.clone() for k, v in embedded.net.state_dict().items()}
    est = Reconstruct3DMM(
        method="rnet", fine_tune=True, fine_tune_epochs=8, fine_tune_lr=3e-4, random_state=0, detector="hog"
    ).fit(photos)
    hist = est.fine_tune_history_
    assert len(hist) == 8 and hist[-1]["total"] < 0.8 * hist[0]["total"]  # measured 0.39 vs 0.8 * 0.65
    assert hist[-1]["landmarks"] < hist[0]["landmarks"] and hist[-1]["photometric"] < hist[0]["photometric"]
    after = [r.reprojection_error for r in est.reconstruct(photos)]
    # each photo fits better by a margin (the photo-like R-Net starts at ~2.6-2.8 px: less room
    # than the first embedded one had, which this test once asked for 20% of); measured
    # 2.62 -> 2.44 px and 2.84 -> 2.35 px, ratios 0.93 and 0.83 (Intel); 2.62 -> 2.50 and
    # 2.84 -> 2.40, ratios 0.953 and 0.848, on an AMD EPYC (float32 kernels round differently
    # and eight epochs on two photos amplify it)
    assert all(a < 0.97 * b for a, b in zip(after, before)), (before, after)
    assert "fine-tuned on 2 photos" in est.rnet_.source
    # the shared embedded network is left as it was, and results are cached apart
    for k, v in embedded.net.state_dict().items():
        torch.testing.assert_close(v, weights_before[k])  # measured 0.0 off
    assert not np.allclose(base.transform(photos), est.transform(photos))
    # the same seed gives the same network
    again = Reconstruct3DMM(
        method="rnet", fine_tune=True, fine_tune_epochs=8, fine_tune_lr=3e-4, random_state=0, detector="hog"
    ).fit(photos)
    assert again.rnet_.source == est.rnet_.source


def test_fine_tune_needs_rnet_and_photos():
    with pytest.raises(ValueError, match="method='rnet'"):
        Reconstruct3DMM(fine_tune=True).fit([np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(ValueError, match="needs photos"):
        Reconstruct3DMM(method="rnet", fine_tune=True).fit()


def test_a_deep3d_layout_net_fine_tunes_with_a_texture_model(ict):
    """Deep3DFaceRecon's head layout (id 80, exp 64, tex 80, angle, gamma, txy, tz) with a
    textured model of that size: texture and lighting heads get gradients too."""
    rng = np.random.default_rng(0)
    model = replace(
        ict,
        identity_basis=ict.identity_basis[:80],
        expression_basis=rng.normal(0, 0.05, (64, ict.n_vertices, 3)).astype(np.float32),
        expression_names=[str(i) for i in range(64)],
        expression_bounds=None,
        texture_mean=rng.uniform(0.4, 0.8, (ict.n_vertices, 3)).astype(np.float32),
        texture_basis=rng.normal(0, 0.02, (80, ict.n_vertices, 3)).astype(np.float32),
        _tensors={},
    )
    torch.manual_seed(0)
    net = RNet(DEEP3D_SIZES, backbone="resnet18").eval()
    bundle = RNetBundle(net, 224, 102.0, np.zeros((5, 3)), "Deep3DFaceRecon epoch_20.pth")
    crops = rng.integers(0, 255, (4, 224, 224, 3), dtype=np.uint8)
    lm = np.tile(np.linspace(60, 160, 68)[:, None], (4, 1, 2)) + rng.normal(0, 5, (4, 68, 2))
    tuned, hist = fine_tune_rnet(
        bundle, model, crops, lm, np.full(4, 1015.0), np.full((4, 2), 112.0), epochs=1, render_size=48
    )
    assert np.isfinite(hist[0]["total"]) and hist[0]["texture"] > 0
    changed = [
        name
        for name, v in tuned.net.state_dict().items()
        if "final_layers" in name and not torch.equal(v, net.state_dict()[name])
    ]
    assert len(changed) >= 8  # id, exp, tex, angle, gamma heads (weights and biases); measured 10


def test_fine_tune_weights_reach_the_loss(astronaut):
    """With every term weighted zero there is nothing to learn: the network stays as it was."""
    zero = {"landmark": 0.0, "photometric": 0.0, "coefficient": 0.0}
    est = Reconstruct3DMM(method="rnet", fine_tune=True, fine_tune_epochs=1, fine_tune_weights=zero)
    est.fit([astronaut])
    assert est.fine_tune_history_[0]["total"] == 0.0
    base = Reconstruct3DMM(method="rnet").fit()
    for (name, v), w in zip(est.rnet_.net.state_dict().items(), base.rnet_.net.state_dict().values()):
        torch.testing.assert_close(v, w, msg=name)
    with pytest.raises(TypeError, match="landmarks"):
        Reconstruct3DMM(method="rnet", fine_tune=True, fine_tune_weights={"landmarks": 1.0}).fit([astronaut])
