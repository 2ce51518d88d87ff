import numpy as np
import pytest
from PIL import Image

from sk3dmm.cli import main
from sk3dmm.export import fitted_mesh, write_mesh, write_obj, write_ply


def read_obj(path):
    """The ``v`` and ``f`` lines of an OBJ file (faces back to 0-based)."""
    verts, faces = [], []
    for line in open(path, encoding="utf-8"):
        kind, *values = line.split()
        if kind == "v":
            verts.append([float(v) for v in values])
        elif kind == "f":
            faces.append([int(v.split("/")[0]) - 1 for v in values])
    return np.array(verts), np.array(faces)


def read_ply(path):
    """A PLY file of float vertices and triangle faces, ASCII or binary little-endian."""
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[0] == "ply"
    fmt = header[1].split()[1]
    counts = {line.split()[1]: int(line.split()[2]) for line in header if line.startswith("element")}
    nv, nf = counts["vertex"], counts["face"]
    if fmt == "ascii":
        rows = data[end:].decode("ascii").splitlines()
        verts = np.array([[float(x) for x in r.split()] for r in rows[:nv]])
        faces = np.array([[int(x) for x in r.split()] for r in rows[nv : nv + nf]])
        assert (faces[:, 0] == 3).all()
        return verts, faces[:, 1:]
    assert fmt == "binary_little_endian"
    verts = np.frombuffer(data, "<f4", nv * 3, end).reshape(nv, 3)
    faces = np.frombuffer(data, [("n", "u1"), ("i", "<i4", (3,))], nf, end + nv * 12)
    assert (faces["n"] == 3).all() and len(data) == end + nv * 12 + nf * 13
    return verts.astype(np.float64), faces["i"].astype(np.int64)


@pytest.fixture(scope="module")
def astronaut_fit(astronaut):
    from sk3dmm import Reconstruct3DMM

    est = Reconstruct3DMM().fit()
    return est.reconstruct([astronaut])[0], est.model_


def test_obj_and_ply_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    verts = rng.normal(0, 50, (40, 3))
    tris = rng.integers(0, 40, (70, 3))
    v, t = read_obj(write_obj(tmp_path / "m.obj", verts, tris, comment="a test"))
    np.testing.assert_allclose(v, verts, rtol=1e-8)  # the files' decimals; measured 4.7e-9
    assert np.array_equal(t, tris)
    text = (tmp_path / "m.obj").read_text()
    assert text.startswith("# a test\nv ") and text.count("\nf ") == 70 and " 0 " not in text  # 1-based
    for binary in (True, False):
        v, t = read_ply(write_ply(tmp_path / "m.ply", verts, tris, binary=binary))
        np.testing.assert_array_equal(v.astype(np.float32), verts.astype(np.float32))  # float32 exactly
        assert np.array_equal(t, tris)
    with pytest.raises(ValueError, match="outside 0..39"):
        write_obj(tmp_path / "x.obj", verts, tris + 1)
    with pytest.raises(ValueError, match="must end in .obj or .ply"):
        write_mesh(tmp_path / "x.stl", verts, tris)


def test_fitted_mesh_frames(astronaut_fit):
    import torch

    rec, model = astronaut_fit
    mesh = fitted_mesh(rec, model)
    c = rec.coefficients
    expected = model.vertices(torch.as_tensor(c["alpha"])[None], torch.as_tensor(c["beta"])[None])[0].numpy()
    # millimetres; measured 2.4e-5 apart (float32 round-off)
    np.testing.assert_allclose(mesh.model_vertices, expected * model.unit_mm, atol=1e-3)
    assert np.array_equal(mesh.triangles, model.triangles) and mesh.vertices("photo") is mesh.photo_vertices
    # the photo frame lands where the fit says its landmarks are (measured 2e-7 px off), in front
    # of the camera
    photo = mesh.photo_vertices
    np.testing.assert_allclose(photo[model.landmark_indices, :2], rec.fitted_landmarks, atol=0.01)
    depth = rec.translation[2] * model.unit_mm
    assert np.all(np.abs(photo[:, 2] - depth) < 200)  # within 20 cm of the head's centre; measured 147 mm
    # a region keeps its vertices and the triangles among them, renumbered
    face = fitted_mesh(rec, model, region="face")
    ids = model.region("face")
    np.testing.assert_array_equal(face.model_vertices, mesh.model_vertices[ids])
    assert face.triangles.max() == len(ids) - 1 and 0 < len(face.triangles) < len(model.triangles)
    np.testing.assert_array_equal(face.photo_vertices[face.triangles], photo[np.sort(ids)][face.triangles])
    with pytest.raises(ValueError, match="unknown frame"):
        mesh.vertices("camera")


def test_mesh_command_obj_ply(tmp_path, astronaut, astronaut_fit, capsys):
    rec, model = astronaut_fit
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    mesh = fitted_mesh(rec, model)
    assert main(["mesh", str(photo), "--out", str(tmp_path / "face.obj"), "-q"]) == 0
    v, t = read_obj(tmp_path / "face.obj")
    np.testing.assert_allclose(v, mesh.model_vertices, atol=1e-4)  # measured 5e-7 mm
    assert np.array_equal(t, model.triangles)
    assert "16434 vertices (model space, mm)" in capsys.readouterr().out
    ply = tmp_path / "face.ply"
    assert main(["mesh", str(photo), "--out", str(ply), "--frame", "photo", "--region", "face", "-q"]) == 0
    v, t = read_ply(ply)
    face = fitted_mesh(rec, model, region="face")
    np.testing.assert_allclose(v, face.photo_vertices, rtol=1e-6, atol=1e-3)  # measured 6.1e-5
    assert np.array_equal(t, face.triangles)
    # a photo without a face: status 1, its reason, no file; a wrong extension or region: status 2
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(grey)
    capsys.readouterr()
    assert main(["mesh", str(grey), "--out", str(tmp_path / "g.obj"), "-q"]) == 1
    assert capsys.readouterr().err == f"sk3dmm: failed: {grey}: no face detected\n"
    assert not (tmp_path / "g.obj").exists()
    assert main(["mesh", str(photo), "--out", str(tmp_path / "g.stl"), "-q"]) == 2
    assert main(["mesh", str(photo), "--out", str(tmp_path / "g.obj"), "--region", "ears", "-q"]) == 2
    assert "has regions" in capsys.readouterr().err
