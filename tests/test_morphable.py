import numpy as np
import pytest
import torch
from scipy.io import savemat

from sk3dmm import ModelFileError, load_bfm_model
from sk3dmm.morphable._files import verified_path
from tests.conftest import corrupt_copy


def test_embedded_model_shapes_and_names(ict):
    assert ict.n_identity == 100 and ict.n_expression == 53
    assert ict.n_vertices == 16434
    assert ict.coef_names("beta")[26] == "beta_jawOpen"
    assert ict.coef_names("alpha")[-1] == "alpha_99"
    assert ict.expression_bounds == (0.0, 1.0)
    assert ict.unit_mm == 10.0
    face = ict.region("face")
    assert len(face) == 9409 and np.isin(ict.landmark_indices, face).all()


def test_vertices_match_numpy_formula(ict):
    rng = np.random.default_rng(0)
    alpha, beta = rng.standard_normal((3, 100)), rng.uniform(0, 1, (3, 53))
    v = ict.vertices(torch.tensor(alpha), torch.tensor(beta)).numpy()
    expected = (
        ict.mean
        + np.einsum("bk,knd->bnd", alpha, ict.identity_basis)
        + np.einsum("bk,knd->bnd", beta, ict.expression_basis)
    )
    np.testing.assert_allclose(v, expected, atol=1e-5)  # float64; measured 3.6e-15
    np.testing.assert_allclose(  # measured 0.0
        ict.landmarks(torch.tensor(alpha), torch.tensor(beta)).numpy(), v[:, ict.landmark_indices], atol=1e-6
    )


def test_landmarks_are_symmetric_on_the_mean_face(ict):
    lm = ict.mean[ict.landmark_indices]
    # dlib point 0 is the subject's right jaw (image left), 16 its mirror
    assert lm[0, 0] < 0 < lm[16, 0]
    np.testing.assert_allclose(lm[0] * [-1, 1, 1], lm[16], atol=0.05)  # measured 0.0: the mean is symmetric


def test_corrupt_model_file_is_detected(tmp_path, ict):
    from sk3dmm.morphable._ict import ICT_FILE

    bad = corrupt_copy(ICT_FILE, tmp_path / "ict_face_light.npz")
    with pytest.raises(ModelFileError, match="corrupt"):
        verified_path(bad, ICT_FILE.with_suffix(".sha256"))
    assert verified_path(ICT_FILE, ICT_FILE.with_suffix(".sha256")) == ICT_FILE


def _write_bfm(path, n=120, rng=None):
    """A small file in the exact layout of Deep3DFaceRecon's BFM_model_front.mat."""
    rng = rng or np.random.default_rng(0)
    mat = {
        "meanshape": rng.standard_normal((1, 3 * n)).astype(np.float32),
        "meantex": rng.uniform(0, 255, (1, 3 * n)).astype(np.float32),
        "idBase": rng.standard_normal((3 * n, 80)).astype(np.float32),
        "exBase": rng.standard_normal((3 * n, 64)).astype(np.float32),
        "texBase": rng.standard_normal((3 * n, 80)).astype(np.float32),
        "tri": (rng.integers(0, n, (70, 3)) + 1).astype(np.float64),
        "point_buf": (rng.integers(0, 70, (n, 8)) + 1).astype(np.float64),
        "tri_mask2": (np.arange(70)[:, None] + 1).astype(np.float64),
        "keypoints": (rng.choice(n, 68, replace=False)[None] + 1).astype(np.float64),
        "frontmask2_idx": (np.arange(40)[:, None] + 1).astype(np.float64),
        "skinmask": (rng.random((1, n)) > 0.3).astype(np.float64),
    }
    savemat(path, mat)
    return mat


def test_bfm_loader_reads_deep3dfacerecon_layout(tmp_path):
    path = tmp_path / "BFM_model_front.mat"
    mat = _write_bfm(path)
    m = load_bfm_model(path)
    assert (m.n_identity, m.n_expression, m.n_texture) == (80, 64, 80)
    assert m.unit_mm == 100.0 and m.expression_bounds is None
    # vertex i, axis c of mode k is row 3i + c of the (3N, K) basis, as in Deep3DFaceRecon
    np.testing.assert_allclose(m.identity_basis[5, 7, 2], mat["idBase"][3 * 7 + 2, 5])
    np.testing.assert_allclose(m.expression_basis[63, 3, 0], mat["exBase"][9, 63])
    np.testing.assert_array_equal(m.landmark_indices, mat["keypoints"].ravel().astype(int) - 1)
    np.testing.assert_array_equal(m.triangles, mat["tri"].astype(int) - 1)
    mean = mat["meanshape"].reshape(-1, 3)
    np.testing.assert_allclose(m.mean, mean - mean.mean(0), atol=1e-5)  # measured 0.0
    np.testing.assert_allclose(m.texture_mean, mat["meantex"].reshape(-1, 3) / 255, atol=1e-6)  # measured 0.0
    assert len(m.region("front")) == 40
    # Deep3DFaceRecon's shape formula (float32 model; measured 4.5e-8 apart)
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 80)), rng.standard_normal((2, 64))
    d3d = (mat["idBase"] @ a.T + mat["exBase"] @ b.T).T + mat["meanshape"]
    d3d = d3d.reshape(2, -1, 3) - mean.mean(0)
    np.testing.assert_allclose(
        m.vertices(torch.tensor(a), torch.tensor(b)).numpy(), d3d, rtol=1e-4, atol=1e-4
    )
    assert m.coef_names("texture")[0] == "texture_0"


def test_bfm_loader_rejects_other_files(tmp_path):
    path = tmp_path / "other.mat"
    savemat(path, {"meanshape": np.zeros((1, 30))})
    with pytest.raises(ModelFileError, match="missing keys"):
        load_bfm_model(path)
    junk = tmp_path / "junk.mat"
    junk.write_text("not a mat file")
    with pytest.raises(ModelFileError, match="cannot read"):
        load_bfm_model(junk)
