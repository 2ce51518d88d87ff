"""MediaPipe's Face Landmarker v2 in torch (478 points, 52 blendshape scores): parity with
MediaPipe's own runtime (fixtures from ``tools/make_mediapipe_v2_fixtures.py``) and the
``detector="mediapipe_v2"`` landmarker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from sk3dmm.faces import (
    MEDIAPIPE_BLENDSHAPES,
    SCHEMES,
    MediaPipeFaceLandmarkerV2,
    detect_faces,
    sample_opencv,
)
from sk3dmm.faces._blendshape_names import BLENDSHAPE_INPUT_POINTS
from sk3dmm.faces.landmarkers import _mediapipe as mp_module
from sk3dmm.faces.landmarkers import _mediapipe_v2 as v2_module

REFERENCE = Path(__file__).parent / "data" / "mediapipe_v2_reference.npz"
VARIANTS = ("astronaut", "mirrored", "half")


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return dict(data)


@pytest.fixture(scope="module")
def landmarker():
    return MediaPipeFaceLandmarkerV2()


def variant(name: str) -> np.ndarray:
    """The photos of the fixture (as ``tools/make_mediapipe_v2_fixtures.py`` makes them)."""
    image = skimage.data.astronaut()
    if name == "mirrored":
        return np.ascontiguousarray(image[:, ::-1])
    if name == "half":
        return np.asarray(Image.fromarray(image).resize((256, 256), Image.BILINEAR))
    return image


def test_the_constants_are_mediapipes():
    assert len(BLENDSHAPE_INPUT_POINTS) == 146 and len(set(BLENDSHAPE_INPUT_POINTS)) == 146
    assert max(BLENDSHAPE_INPUT_POINTS) == 477 and BLENDSHAPE_INPUT_POINTS[-10:] == tuple(range(468, 478))
    assert len(MEDIAPIPE_BLENDSHAPES) == 52 and MEDIAPIPE_BLENDSHAPES[0] == "_neutral"
    assert "tongueOut" not in MEDIAPIPE_BLENDSHAPES and MEDIAPIPE_BLENDSHAPES[25] == "jawOpen"


def test_landmark_network_matches_the_reference_runtime(reference):
    graph = mp_module._load_graph(v2_module.MESH_V2_FILE)
    x = torch.from_numpy(reference["landmark_input"][None].astype(np.float32) / 255.0)
    with torch.no_grad():
        points, presence, _ = graph(x)
    # float32: measured 1.5e-4 px on points of ~100 px, 7e-6 on the face logit
    np.testing.assert_allclose(points.reshape(-1).numpy(), reference["landmark_output_0"], atol=2e-3, rtol=0)
    np.testing.assert_allclose(presence.reshape(-1).numpy(), reference["landmark_output_1"], atol=1e-4, rtol=0)


def test_blendshape_network_matches_the_reference_runtime(reference, landmarker):
    points = torch.from_numpy(reference["blendshape_input"])[None]
    with torch.no_grad():
        scores = landmarker.blendshape_net(points)[0][0].numpy()
    np.testing.assert_allclose(scores, reference["blendshape_scores"], atol=2e-5, rtol=0)  # measured 3.3e-6
    batch = landmarker.blendshape_net(points.repeat(3, 1, 1))[0]
    assert batch.shape == (3, 52)
    torch.testing.assert_close(batch, torch.from_numpy(scores)[None].expand(3, 52), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", VARIANTS)
def test_pipeline_matches_mediapipes_face_landmarker(reference, landmarker, name):
    faces = landmarker.detect([variant(name)])[0]
    assert len(faces) == 1
    face = faces[0]
    assert face.scheme == "mediapipe478" and face.points.shape == (478, 3)
    err = np.linalg.norm(face.points[:, :2] - reference[f"{name}_points"][:, :2], axis=1)
    assert err.max() < 0.05  # pixels; measured 0.003 (the issue asks 1.5)
    np.testing.assert_allclose(face.points[:, 2], reference[f"{name}_points"][:, 2], atol=0.05)  # measured 0.007
    scores = face.extras["blendshape_scores"]
    assert scores.shape == (52,) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores, reference[f"{name}_scores"], atol=2e-3, rtol=0)  # measured 2.2e-4 (asked: 0.02)


def test_batches_equal_single_photos(landmarker):
    photos = [variant(n) for n in VARIANTS]
    together = landmarker.detect(photos)
    for faces, photo in zip(together, photos):
        alone = landmarker.detect([photo])[0]
        np.testing.assert_allclose(faces[0].points, alone[0].points, atol=1e-3)
        np.testing.assert_allclose(faces[0].extras["blendshape_scores"], alone[0].extras["blendshape_scores"], atol=1e-5)


def test_the_detector_name_and_scheme():
    face = detect_faces(skimage.data.astronaut(), "mediapipe_v2")[0]
    assert face.mesh.shape == (478, 3) and face.landmarks.shape == (68, 2)
    assert SCHEMES["mediapipe478"].fitted == slice(0, 468)
    smile = dict(zip(MEDIAPIPE_BLENDSHAPES, face.extras["blendshape_scores"]))
    assert smile["mouthSmileLeft"] > 0.5 and smile["mouthSmileRight"] > 0.5  # she smiles: 0.70, 0.74
    assert smile["jawOpen"] < 0.2 and smile["eyeBlinkLeft"] < 0.3


def test_opencv_sampler_conventions():
    image = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    # a rectangle over the whole photo, one output pixel per photo pixel: the photo itself
    np.testing.assert_array_equal(sample_opencv(image, (8, 8), (16, 16), 0.0, 16), image)
    # half size: every other pixel (OpenCV samples at integer positions, no smoothing)
    np.testing.assert_array_equal(sample_opencv(image, (8, 8), (16, 16), 0.0, 8), image[::2, ::2])
    padded = sample_opencv(image, (8, 8), (32, 32), 0.0, 32, border="zero")
    assert (padded[:8] == 0).all() and (padded[8:24, 8:24] == image).all()
    edge = sample_opencv(image, (8, 8), (32, 32), 0.0, 32, border="replicate")
    np.testing.assert_array_equal(edge[0, 8:24], image[0])


@pytest.mark.parametrize("name", [v2_module.MESH_V2_FILE, v2_module.BLENDSHAPES_FILE])
def test_corrupt_network_files_are_detected(tmp_path, monkeypatch, name):
    import shutil

    from sk3dmm import ModelFileError

    stem = name.removesuffix(".pt")
    for f in mp_module.DATA_DIR.glob(f"{stem}.*"):
        shutil.copy(f, tmp_path / f.name)
    data = bytearray((tmp_path / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / name).write_bytes(bytes(data))
    monkeypatch.setattr(mp_module, "DATA_DIR", tmp_path)
    monkeypatch.setattr(v2_module, "DATA_DIR", tmp_path)
    monkeypatch.setenv("SK3DMM_NETWORK_RUNTIME", "torch")  # the converted file (tests/test_litert.py: the .tflite)
    v2_module._blendshape_graph_unlocked.cache_clear()
    with pytest.raises(ModelFileError, match="corrupt"):
        if name == v2_module.MESH_V2_FILE:
            mp_module._load_graph(name)
        else:
            v2_module._blendshape_graph("cpu")
    v2_module._blendshape_graph_unlocked.cache_clear()
