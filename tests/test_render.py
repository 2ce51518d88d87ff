import numpy as np
import pytest
import torch

from sk3dmm.render import AMBIENT_INIT, rasterize, render_faces, render_mesh, sh_basis, shade, vertex_normals


def _square(z=10.0, half=1.0):
    """A square facing the camera (outward normal towards -z in camera space), 2 triangles."""
    v = torch.tensor([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    # counter-clockwise seen from the camera (from -z): in camera coords with y down that is
    # the order below; its geometric normal points at the camera
    tri = torch.tensor([[0, 2, 1], [0, 3, 2]])
    return v, tri


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_square_lands_where_the_camera_says():
    v, tri = _square(z=10.0, half=1.0)
    focal, size = 50.0, 64
    out = render_mesh(
        v[None], tri, torch.ones(1, 4, 3), focal, torch.tensor([32.0, 32.0]), size, size, cull_backfaces=False
    )
    # the square spans +-1 at depth 10: +-5 px around the centre -> pixel centres 27.5..36.5
    ys, xs = np.nonzero(out.mask[0].numpy())
    assert xs.min() == 27 and xs.max() == 36 and ys.min() == 27 and ys.max() == 36
    assert out.mask[0].sum() == 100
    np.testing.assert_allclose(out.depth[0][out.mask[0]].numpy(), 10.0)  # measured 2e-16 relative
    assert torch.isinf(out.depth[0, 0, 0]) and out.triangle_id[0, 0, 0] == -1


def test_off_centre_principal_point_and_zbuffer():
    near, tri = _square(z=5.0, half=0.5)
    far, _ = _square(z=10.0, half=3.0)
    verts = torch.cat([near, far])[None]
    tris = torch.cat([tri, tri + 4])
    colors = torch.cat([torch.zeros(4, 3), torch.ones(4, 3)])[None]
    out = render_mesh(verts, tris, colors, 40.0, torch.tensor([20.0, 30.0]), 64, 64, cull_backfaces=False)
    # near square: +-0.5 at z 5 -> +-4 px around (20, 30); colour 0 there, 1 elsewhere on the far one
    assert out.image[0, 30, 20].sum() == 0 and out.depth[0, 30, 20] == pytest.approx(5.0)  # measured 0.0 off
    assert out.image[0, 30, 30].sum() == 3 and out.depth[0, 30, 30] == pytest.approx(10.0)  # measured 0.0 off
    assert set(out.triangle_id[0, 30, 20:22].tolist()) <= {0, 1}


def test_backface_culling_hides_a_flipped_square():
    v, tri = _square()
    front = rasterize(torch.cat([v[:, :2] * 5 + 32, v[:, 2:]], -1)[None], tri, 64, 64, cull_backfaces=True)
    back = rasterize(
        torch.cat([v[:, :2] * 5 + 32, v[:, 2:]], -1)[None], tri.flip(-1), 64, 64, cull_backfaces=True
    )
    assert front.mask.sum() > 0 and back.mask.sum() == 0


def test_perspective_correct_depth_on_a_slanted_plane():
    v = torch.tensor([[-1.0, -1.0, 4.0], [1.0, -1.0, 8.0], [1.0, 1.0, 8.0], [-1.0, 1.0, 4.0]])
    tri = torch.tensor([[0, 2, 1], [0, 3, 2]])
    out = render_mesh(
        v[None], tri, torch.ones(1, 4, 3), 30.0, torch.tensor([16.0, 16.0]), 32, 32, cull_backfaces=False
    )
    ys, xs = np.nonzero(out.mask[0].numpy())
    # every covered pixel's depth must be that of the plane z = 6 + 2x along its viewing ray
    px = xs + 0.5 - 16
    # ray (px/f, py/f, 1) * d on plane z = 6 + 2 x  ->  d = 6 / (1 - 2 px / f)
    expected = 6.0 / (1 - 2 * px / 30.0)
    np.testing.assert_allclose(out.depth[0].numpy()[ys, xs], expected, rtol=1e-9)  # measured 2.5e-16


def _render(tri, verts, albedo, gamma):
    normals = vertex_normals(verts[None], tri) * torch.tensor([1.0, -1.0, -1.0])
    colors = shade(albedo[None], normals, gamma[None])
    return render_mesh(
        verts[None], tri, colors, 40.0, torch.tensor([16.0, 16.0]), 32, 32, cull_backfaces=False
    )


def test_gradients_match_finite_differences():
    """Inside triangles the image is smooth in vertices, albedo and lighting: autograd must
    match central differences on every pixel whose covering triangle the perturbation leaves
    unchanged (pixels a perturbation moves across an edge are a true discontinuity)."""
    torch.manual_seed(0)
    verts = torch.tensor([[-1.0, -1.0, 5.0], [1.2, -0.9, 5.5], [0.9, 1.1, 6.0], [-1.1, 0.8, 5.2]])
    tri = torch.tensor([[0, 2, 1], [0, 3, 2]])
    params = [verts, torch.rand(4, 3) * 0.5 + 0.25, torch.randn(27) * 0.1]
    weights = torch.rand(1, 32, 32, 3)
    base_ids = _render(tri, *params).triangle_id
    eps = 1e-6
    checked = 0
    for k, p in enumerate(params):
        for i in range(p.numel()):
            plus = [q.clone() for q in params]
            minus = [q.clone() for q in params]
            plus[k].view(-1)[i] += eps
            minus[k].view(-1)[i] -= eps
            rp, rm = _render(tri, *plus), _render(tri, *minus)
            same = ((rp.triangle_id == base_ids) & (rm.triangle_id == base_ids))[..., None]
            numeric = ((rp.image - rm.image) * weights * same).sum() / (2 * eps)
            leaf = [q.clone().requires_grad_() for q in params]
            (_render(tri, *leaf).image * weights * same).sum().backward()
            analytic = leaf[k].grad.reshape(-1)[i]
            # measured 1.1e-8 apart at most (3.2e-9 relative) over the 51 derivatives
            assert analytic.item() == pytest.approx(numeric.item(), rel=1e-8, abs=3e-8), (k, i)
            checked += 1
    assert checked == 12 + 12 + 27


def test_sh_ambient_only_gives_albedo_times_constant():
    n = torch.nn.functional.normalize(torch.randn(10, 3), dim=-1)
    colors = shade(torch.full((1, 10, 3), 0.5), n[None], torch.zeros(1, 27))
    const = sh_basis(n)[0, 0].item() * AMBIENT_INIT
    np.testing.assert_allclose(colors.numpy(), 0.5 * const)  # measured 0.0 off


def test_face_render_batched_and_deterministic(ict):
    from sk3dmm.render import ict_albedo, pose_to_camera, random_albedo_params

    torch.set_default_dtype(torch.float32)
    alb = torch.tensor(ict_albedo(ict, random_albedo_params(np.random.default_rng(0))))
    rot, t = pose_to_camera(torch.tensor([0.0, 45.0]), torch.zeros(2), torch.zeros(2), torch.zeros(3), 100.0)
    args = (
        ict,
        torch.zeros(2, 100),
        torch.zeros(2, 53),
        alb,
        torch.zeros(2, 27),
        rot.float(),
        t.float(),
        500.0,
        torch.tensor([64.0, 64.0]),
        128,
    )
    a, b = render_faces(*args), render_faces(*args)
    assert torch.equal(a.image, b.image)
    # the face covers 0.57 of the frontal render (measured)
    assert 0.15 < a.mask[0].float().mean() < 0.9 and (a.image >= 0).all() and (a.image <= 1).all()
    single = render_faces(
        ict,
        torch.zeros(1, 100),
        torch.zeros(1, 53),
        alb,
        torch.zeros(1, 27),
        rot[:1].float(),
        t[:1].float(),
        500.0,
        torch.tensor([64.0, 64.0]),
        128,
    )
    assert torch.allclose(single.image[0], a.image[0], atol=1e-5)  # measured 0.0 (the same image)
    # the frontal face is left-right symmetric up to the rasterization grid: measured 0.99988
    # (2 of 16,384 pixels differ from their mirror; the bound allows 8)
    m = a.mask[0].numpy()
    assert (m == m[:, ::-1]).mean() > 0.9995
