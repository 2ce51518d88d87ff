"""The ``fast`` extra: MediaPipe's networks on LiteRT and the crops by OpenCV, against the torch
graphs, the numpy crop and MediaPipe's own outputs (``tests/data/mediapipe_v2_reference.npz``)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from sk3dmm.exceptions import ModelFileError
from sk3dmm.faces import _crop
from sk3dmm.faces.landmarkers import _litert, get_landmarker
from sk3dmm.faces.landmarkers import _mediapipe as mp_module
from sk3dmm.faces.landmarkers import _mediapipe_v2 as v2_module

REFERENCE = Path(__file__).parent / "data" / "mediapipe_v2_reference.npz"
needs_litert = pytest.mark.skipif(not _litert.litert_installed(), reason="ai-edge-litert is not installed")


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return dict(data)


def test_the_runtime_follows_the_variable(monkeypatch):
    monkeypatch.setenv(_litert.RUNTIME_VARIABLE, "torch")
    assert _litert.network_runtime(v2_module.MESH_V2_FILE, "cpu") == "torch"
    monkeypatch.setenv(_litert.RUNTIME_VARIABLE, "auto")
    expected = "litert" if _litert.litert_installed() else "torch"
    assert _litert.network_runtime(v2_module.MESH_V2_FILE, "cpu") == expected
    assert _litert.network_runtime(mp_module.MESH_FILE, "cpu") == "torch"  # no .tflite shipped for it
    assert _litert.network_runtime(v2_module.MESH_V2_FILE, "cuda") == "torch"
    monkeypatch.setenv(_litert.RUNTIME_VARIABLE, "tensorrt")
    with pytest.raises(ValueError, match="SK3DMM_NETWORK_RUNTIME='tensorrt'"):
        _litert.network_runtime(v2_module.MESH_V2_FILE, "cpu")


@needs_litert
def test_keys_name_the_runtime(monkeypatch):
    keys = {}
    for runtime in ("torch", "litert"):
        monkeypatch.setenv(_litert.RUNTIME_VARIABLE, runtime)
        keys[runtime] = {d: get_landmarker(d, 1).key for d in ("mediapipe_v2", "cascade", "retinaface", "none")}
        mesh = v2_module.default_face_landmarker_v2().landmarker
        assert isinstance(mesh, _litert.LiteRTGraph) == (runtime == "litert")
    for detector, key in keys["litert"].items():
        assert key != keys["torch"][detector] and "litert" in key and "litert" not in keys["torch"][detector]


@needs_litert
def test_litert_networks_match_the_reference_runtime_and_the_torch_graphs(reference):
    mesh = _litert.litert_graph(v2_module.MESH_V2_FILE, mp_module.DATA_DIR)
    x = torch.from_numpy(reference["landmark_input"][None].astype(np.float32) / 255.0)
    points, presence, _ = mesh(x.repeat(2, 1, 1, 1))
    assert points.shape == (2, 1, 1, 1434) and presence.shape == (2, 1, 1, 1)
    np.testing.assert_allclose(points[1].reshape(-1).numpy(), reference["landmark_output_0"], atol=2e-3, rtol=0)
    np.testing.assert_allclose(presence[0].reshape(-1).numpy(), reference["landmark_output_1"], atol=1e-4, rtol=0)

    blend = _litert.litert_graph(v2_module.BLENDSHAPES_FILE, mp_module.DATA_DIR)
    scores = blend(torch.from_numpy(reference["blendshape_input"])[None])[0]
    assert scores.shape == (1, 52)
    np.testing.assert_allclose(scores[0].numpy(), reference["blendshape_scores"], atol=2e-5, rtol=0)

    detector = _litert.litert_graph(mp_module.DETECTOR_FILE, mp_module.DATA_DIR)
    torch_detector = mp_module._cached_graph_unlocked(mp_module.DETECTOR_FILE, "cpu")
    inputs = torch.rand(3, 128, 128, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        for ours, theirs in zip(detector(inputs), torch_detector(inputs)):
            assert ours.shape == theirs.shape
            torch.testing.assert_close(ours, theirs, atol=2e-3, rtol=1e-4)


@needs_litert
def test_both_runtimes_find_the_same_face(monkeypatch):
    image = skimage.data.astronaut()
    faces = {}
    for runtime in ("torch", "litert"):
        monkeypatch.setenv(_litert.RUNTIME_VARIABLE, runtime)
        faces[runtime] = v2_module.default_face_landmarker_v2().detect([image])[0][0]
    # measured on 120 real photos: 0.006 px at most on the points, 3e-4 on the scores
    np.testing.assert_allclose(faces["litert"].points[:, :2], faces["torch"].points[:, :2], atol=0.02, rtol=0)
    scores = [faces[r].extras["blendshape_scores"] for r in ("litert", "torch")]
    np.testing.assert_allclose(*scores, atol=2e-3, rtol=0)


@needs_litert
def test_one_interpreter_per_thread_gives_the_serial_results():
    mesh = _litert.litert_graph(v2_module.MESH_V2_FILE, mp_module.DATA_DIR)
    inputs = [torch.rand(1, 256, 256, 3, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    serial = [mesh(x)[0] for x in inputs]
    threaded = [None] * 4

    def run(i):
        threaded[i] = mesh(inputs[i])[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, threaded):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@needs_litert
def test_a_corrupt_tflite_file_is_named(tmp_path):
    bad = tmp_path / "mesh.tflite"
    bad.write_bytes(b"TFL3" + bytes(64))
    with pytest.raises(ModelFileError, match="mesh.tflite"):
        _litert.LiteRTGraph(bad)


def test_a_tflite_file_that_differs_from_its_checksum_is_refused(tmp_path):
    name = _litert.TFLITE_OF[v2_module.MESH_V2_FILE]
    data = (mp_module.DATA_DIR / name).read_bytes()
    (tmp_path / name).write_bytes(data[:-10])
    (tmp_path / f"{name}.sha256").write_text((mp_module.DATA_DIR / f"{name}.sha256").read_text())
    _litert._litert_graph_unlocked.cache_clear()
    with pytest.raises(ModelFileError, match="corrupt"):
        _litert.litert_graph(v2_module.MESH_V2_FILE, tmp_path)
    _litert._litert_graph_unlocked.cache_clear()


@pytest.mark.skipif(_crop._opencv_warp() is None, reason="OpenCV absent, or its warp rounds otherwise")
@pytest.mark.parametrize("border", ["replicate", "zero"])
def test_opencvs_warp_gives_the_numpy_crops_bits(border):
    rng = np.random.default_rng(3)
    image = skimage.data.astronaut()
    for _ in range(6):
        centre = rng.uniform(-50, 560, 2)
        side = np.full(2, rng.uniform(20, 700))
        rotation, size = rng.uniform(-np.pi, np.pi), int(rng.choice([128, 192, 256]))
        np.testing.assert_array_equal(
            _crop._cv2_warp(image, centre, side, rotation, size, border),
            _crop._sample_opencv_numpy(image, centre, side, rotation, size, border),
        )


@needs_litert
def test_networks_on_two_threads_give_the_same_bits(reference):
    mesh = _litert.litert_graph(v2_module.MESH_V2_FILE, mp_module.DATA_DIR)
    x = torch.from_numpy(reference["landmark_input"][None].astype(np.float32) / 255.0)
    one = mesh(x)
    with _litert.network_threads(2):
        two = mesh(x)
        borrowed = mesh._borrow()
    mesh._free_list(borrowed[3]).put(borrowed)
    assert borrowed[3] == 2 and sum(o.numel() for o in one) > 1000
    for a, b in zip(one, two):
        assert torch.equal(a, b)


def test_a_stage_alone_in_the_main_thread_gets_the_torch_threads(monkeypatch):
    from sk3dmm.pipeline import _policy

    monkeypatch.setattr(_policy.torch, "get_num_threads", lambda: 2)
    assert _policy._network_threads(None) == 2 and _policy._network_threads(1) == 2
    assert _policy._network_threads(2) == 1  # joblib's workers share the cores
    seen = []
    worker = threading.Thread(target=lambda: seen.append(_policy._network_threads(None)))
    worker.start()
    worker.join()
    assert seen == [1]  # e.g. the thread that prepares the next batch while this one is fitted
