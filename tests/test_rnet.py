import numpy as np
import pytest
import torch
from scipy.io import savemat

from sk3dmm import ModelFileError
from sk3dmm.faces import align_crop, five_points
from sk3dmm.nets import DEEP3D_SIZES, RNet, export_rnet, load_deep3d_rnet, load_deep3d_template
from sk3dmm.nets._resnet import resnet18, resnet50


def test_resnets_have_torchvision_names_and_sizes():
    r50, r18 = resnet50(), resnet18()
    # torchvision's parameter counts and state_dict lengths
    assert sum(p.numel() for p in r50.parameters()) == 25_557_032 and len(r50.state_dict()) == 320
    assert sum(p.numel() for p in r18.parameters()) == 11_689_512 and len(r18.state_dict()) == 122
    assert "layer4.2.bn3.running_var" in r50.state_dict() and "fc.weight" in r18.state_dict()


def _deep3d_checkpoint(path, backbone="resnet18"):
    torch.manual_seed(0)
    net = RNet(DEEP3D_SIZES, backbone=backbone)
    for layer in net.final_layers:  # Deep3DFaceRecon's heads start at zero; make outputs non-trivial
        torch.nn.init.normal_(layer.weight, std=0.01)
    torch.save({"net_recon": {f"module.{k}": v for k, v in net.state_dict().items()}, "epoch": 20}, path)
    return net.eval()


def test_deep3d_checkpoint_loads_and_splits_like_the_original(tmp_path):
    path = tmp_path / "epoch_20.pth"
    ref = _deep3d_checkpoint(path)
    net = load_deep3d_rnet(path)
    assert net.backbone_name == "resnet18"
    x = torch.rand(2, 3, 224, 224)
    out = net(x)
    assert out.shape == (2, 257)
    torch.testing.assert_close(out, ref(x))
    parts = net.split(out)
    # Deep3DFaceRecon's split_coeff: id 0:80, exp 80:144, tex 144:224, angle 224:227,
    # gamma 227:254, translation 254:257
    torch.testing.assert_close(parts["id"], out[:, :80])
    torch.testing.assert_close(parts["exp"], out[:, 80:144])
    torch.testing.assert_close(parts["tex"], out[:, 144:224])
    torch.testing.assert_close(parts["angle"], out[:, 224:227])
    torch.testing.assert_close(parts["gamma"], out[:, 227:254])
    torch.testing.assert_close(torch.cat([parts["txy"], parts["tz"]], 1), out[:, 254:257])


@pytest.mark.slow
def test_deep3d_resnet50_checkpoint(tmp_path):
    path = tmp_path / "epoch_20.pth"
    _deep3d_checkpoint(path, "resnet50")
    net = load_deep3d_rnet(path)
    assert net.backbone_name == "resnet50" and sum(p.numel() for p in net.parameters()) == 24_034_625


def test_bad_checkpoints_are_named(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(ModelFileError, match="junk.pth: not a readable PyTorch checkpoint"):
        load_deep3d_rnet(junk)
    with pytest.raises(ModelFileError, match="missing.pth: file not found"):
        load_deep3d_rnet(tmp_path / "missing.pth")
    other = tmp_path / "other.pth"
    torch.save({"model": {}}, other)
    with pytest.raises(ModelFileError, match="no 'net_recon' key"):
        load_deep3d_rnet(other)
    wrong = tmp_path / "wrong.pth"
    torch.save({"net_recon": {"backbone.conv1.weight": torch.zeros(3)}}, wrong)
    with pytest.raises(ModelFileError, match="do not match"):
        load_deep3d_rnet(wrong)


def test_template_and_five_points(tmp_path):
    lm = np.random.default_rng(0).normal(size=(68, 3))
    savemat(tmp_path / "similarity_Lm3D_all.mat", {"lm": lm})
    five = load_deep3d_template(tmp_path / "similarity_Lm3D_all.mat")  # means of the points: measured 0.0 off
    np.testing.assert_allclose(five[0], lm[[36, 39]].mean(0))  # left eye: points 37, 40
    np.testing.assert_allclose(five[1], lm[[42, 45]].mean(0))
    np.testing.assert_allclose(five[2], lm[30])
    np.testing.assert_allclose(five[3:], lm[[48, 54]])
    np.testing.assert_allclose(five_points(lm), five)


def test_align_crop_puts_the_template_where_deep3d_does():
    rng = np.random.default_rng(1)
    template68 = rng.normal(0, 1, (68, 3)) * [0.5, 0.6, 0.2]
    five = five_points(template68)
    h, w, s, t = 300, 400, 80.0, np.array([210.0, 140.0])
    # a frontal photo: y-up image position = s * (x, y) + t ; pixel y is flipped
    lm_up = template68[:, :2] * s + t
    lm_px = np.c_[lm_up[:, 0], h - 1 - lm_up[:, 1]]
    crop, lm_crop, params = align_crop(np.zeros((h, w, 3), np.uint8), lm_px, five, 224, 102.0)
    assert crop.shape == (224, 224, 3)
    assert params[2] == pytest.approx(102.0 / s, rel=1e-6)  # measured 0.0 off
    # in the crop the template sits at 102 px per unit around the centre (integer crop offsets:
    # measured 0.5 px, the rounding's most)
    np.testing.assert_allclose(lm_crop, template68[:, :2] * 102.0 + 112.0, atol=1.0)


def test_export_torchscript_and_onnx_give_the_same_numbers(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = RNet({"id": 10, "exp": 5, "angle": 3}, backbone="resnet18", width=16).eval()
    for layer in net.final_layers:
        torch.nn.init.normal_(layer.weight, std=0.1)
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        ref = net(x).numpy()
    ts = torch.jit.load(str(export_rnet(net, tmp_path / "rnet.pt", 64, "torchscript")))
    np.testing.assert_allclose(ts(x).detach().numpy(), ref, rtol=1e-5, atol=1e-5)  # measured 0.0 off
    sess = onnxruntime.InferenceSession(str(export_rnet(net, tmp_path / "rnet.onnx", 64, "onnx")))
    # another runtime's float32 kernels: measured 2.1e-6 apart at most
    np.testing.assert_allclose(sess.run(None, {"image": x.numpy()})[0], ref, rtol=1e-4, atol=1e-5)


def test_embedded_rnet_on_a_real_photo(astronaut):
    from sk3dmm import Reconstruct3DMM

    est = Reconstruct3DMM(method="rnet", coef=("alpha", "beta", "pose"))
    X = est.fit_transform([astronaut])
    assert X.shape == (1, 159) and np.isfinite(X).all()
    beta = X[0, 100:153]
    assert ((beta >= 0) & (beta <= 1)).all()
    # R-Net's shape, pose fitted to the detector's points: measured 1.8 px
    assert est.reconstructions_[0].reprojection_error < 6.0
    assert abs(X[0, 153]) < 25  # near-frontal yaw; measured 2.1 degrees
    assert est.rnet_.source.startswith("sk3dmm")


def test_rnet_refined_sits_between_rnet_and_the_landmark_fit(astronaut):
    """R-Net + dense refinement: the landmark fit pulled towards R-Net's shape, so its
    coefficients are closer to R-Net's than the plain fit's are, and it fits the points as well."""
    from sk3dmm import Reconstruct3DMM

    out = {}
    for method in ("rnet", "rnet_refined", "landmarks"):
        est = Reconstruct3DMM(method=method, coef="alpha", cache=False)
        out[method] = (est.fit_transform([astronaut])[0], est.reconstructions_[0].reprojection_error)
    assert np.linalg.norm(out["rnet_refined"][0] - out["rnet"][0]) < np.linalg.norm(
        out["landmarks"][0] - out["rnet"][0]
    )
    assert not np.allclose(out["rnet_refined"][0], out["rnet"][0])  # the landmarks moved it (measured 0.83)
    assert out["rnet_refined"][1] < out["rnet"][1]  # and it fits them better than R-Net's shape


def test_embedded_rnet_beats_landmark_fitting_on_unseen_renders(ict):
    """On frontal renders of people it never saw, R-Net's face shape must be closer to the
    truth than landmark fitting's, and its identity closer than the mean face."""
    from sk3dmm import Reconstruct3DMM
    from sk3dmm.datasets import make_synthetic_faces
    from sk3dmm.metrics import rmse_mm

    faces = make_synthetic_faces(4, image_size=224, angles=("S",), random_state=555)
    fits = {
        m: Reconstruct3DMM(method=m, coef=("alpha", "beta"), on_error="nan").fit_transform(faces.images)
        for m in ("rnet", "landmarks")
    }
    ok = np.isfinite(fits["rnet"]).all(1) & np.isfinite(fits["landmarks"]).all(1)
    assert ok.sum() >= 20  # measured 28 of 28

    def err(alpha, beta):
        est = ict.vertices(torch.tensor(alpha[ok]).double(), torch.tensor(beta[ok]).double())[:, :6706]
        true = ict.vertices(torch.tensor(faces.alpha[ok]).double(), torch.tensor(beta_true[ok]).double())[
            :, :6706
        ]
        return rmse_mm(est.numpy(), true.numpy(), 10).mean()

    beta_true = faces.beta
    full = {m: err(X[:, :100], X[:, 100:]) for m, X in fits.items()}
    # measured 2.41 mm vs 3.15 mm (24% closer); the bound asks for 15%
    assert full["rnet"] < 0.85 * full["landmarks"]
    beta_true = np.zeros_like(faces.beta)
    zeros = np.zeros_like(faces.beta)
    assert err(fits["rnet"][:, :100], zeros) < err(np.zeros_like(faces.alpha), zeros)


def test_corrupt_embedded_weights_are_detected(tmp_path, ict):
    from sk3dmm.morphable._files import verified_path
    from sk3dmm.nets._embedded import EMBEDDED_WEIGHTS
    from tests.conftest import corrupt_copy

    bad = corrupt_copy(EMBEDDED_WEIGHTS, tmp_path / "rnet_ict.pt", position=1 / 3)
    with pytest.raises(ModelFileError, match="corrupt"):
        verified_path(bad, EMBEDDED_WEIGHTS.with_suffix(".sha256"))


def test_user_checkpoint_in_sk3dmm_format_round_trips(tmp_path, ict, astronaut):
    from sk3dmm import Reconstruct3DMM
    from sk3dmm.nets import load_rnet

    bundle = load_rnet(None, ict)
    path = tmp_path / "mine.pt"
    torch.save(
        {
            "state_dict": bundle.net.state_dict(),
            "sizes": dict(bundle.net.sizes),
            "backbone": bundle.net.backbone_name,
            "width": 32,
            "input_size": bundle.input_size,
            "rescale_factor": bundle.rescale_factor,
        },
        path,
    )
    a = Reconstruct3DMM(method="rnet", coef="alpha", cache=False).fit_transform([astronaut])
    b = Reconstruct3DMM(method="rnet", coef="alpha", weights=path, cache=False).fit_transform([astronaut])
    np.testing.assert_allclose(a, b, atol=1e-5)  # measured 0.0 off (the same weights)
