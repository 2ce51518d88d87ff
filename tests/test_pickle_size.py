"""Fitted estimators pickle small: embedded models and R-Net go by file name and SHA-256."""

import copy
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sk3dmm import LandmarkFitter, ModelFileError, Reconstruct3DMM
from sk3dmm.morphable._ict import ICT_FILE, embedded_model_from_pickle
from sk3dmm.nets import load_rnet
from sk3dmm.nets._embedded import EMBEDDED_WEIGHTS, rnet_from_pickle
from sk3dmm.training import fine_tune_rnet
from sk3dmm.transformers._model_choice import resolve_model

MAX_BYTES = 2_000_000
ROOT = Path(__file__).resolve().parents[1]


def _landmarks(ict, n=3):
    rng = np.random.default_rng(0)
    points = ict.mean[ict.landmark_indices, :2] * [8, -8] + 250
    return (points + rng.normal(0, 1.5, (n, 68, 2))).reshape(n, 136)


def _reducer(obj):
    return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)[0]


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_landmark_fitter_pickles_small(ict, precision):
    X = _landmarks(ict)
    est = LandmarkFitter(precision=precision).fit(X)
    assert len(pickle.dumps(est)) <= MAX_BYTES  # 2,772 bytes (31.3 MB before)
    est.transform(X)  # caches the model's torch tensors: not pickled
    assert len(pickle.dumps(est)) <= MAX_BYTES  # 2,772 bytes (62.4 / 124 MB before)


@pytest.mark.parametrize("method", ["landmarks", "rnet", "rnet_refined"])
def test_reconstruct_pickles_small(method):
    est = Reconstruct3DMM(method=method).fit()
    # 2,932 / 3,069 / 3,077 bytes (31.3 / 42.8 / 42.8 MB before)
    assert len(pickle.dumps(est)) <= MAX_BYTES


_ROUND_TRIP = """
import pickle, sys
import torch
torch.set_num_threads(int(sys.argv[3]))
with open(sys.argv[1], "rb") as f:
    jobs = pickle.load(f)
with open(sys.argv[2], "wb") as f:
    pickle.dump([est.transform(X) for est, X in jobs], f)
"""


def test_reconstructions_of_the_last_transform_are_not_pickled(face_photos):
    est = Reconstruct3DMM(method="rnet").fit()
    est.transform(face_photos * 8)  # 64 photos: 2.7 MB of reconstructions_ (41 KB each)
    assert len(est.reconstructions_) == 64
    data = pickle.dumps(est)
    assert len(data) <= 10_000  # 3,9xx bytes: the parameters, failures_ and the embedded names
    assert not hasattr(pickle.loads(data), "reconstructions_")


def test_round_trip_in_a_new_process(tmp_path, ict, astronaut):
    """Unpickled in another process, each estimator gives bitwise the same output."""
    X = _landmarks(ict)
    jobs = [(LandmarkFitter(coef=("alpha", "beta", "pose"), precision="float64").fit(X), X)]
    for method in ("landmarks", "rnet", "rnet_refined"):
        est = Reconstruct3DMM(method=method, coef=("alpha", "beta", "pose")).fit()
        jobs.append((est, [astronaut]))
    expected = [est.transform(X) for est, X in jobs]
    # after a transform (the model's torch tensors cached, reconstructions_: neither pickled)
    for est, _ in jobs:
        assert len(pickle.dumps(est)) <= MAX_BYTES
    (tmp_path / "in.pkl").write_bytes(pickle.dumps(jobs))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run(
        [sys.executable, "-c", _ROUND_TRIP, "in.pkl", "out.pkl", str(torch.get_num_threads())],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=600,
    )
    got = pickle.loads((tmp_path / "out.pkl").read_bytes())
    for (est, _), a, b in zip(jobs, expected, got):
        assert a.dtype == b.dtype and a.shape == b.shape and np.isfinite(a).all()
        assert a.tobytes() == b.tobytes(), getattr(est, "method", "LandmarkFitter")


def test_embedded_model_goes_by_name_and_comes_back_as_the_cached_one(ict):
    assert _reducer(ict) is embedded_model_from_pickle
    assert pickle.loads(pickle.dumps(ict)) is ict
    bundle = load_rnet(None, ict)
    assert _reducer(bundle) is rnet_from_pickle
    assert pickle.loads(pickle.dumps(bundle)) is bundle
    # a copy is the same content: it may still go by name
    assert _reducer(copy.deepcopy(ict)) is embedded_model_from_pickle
    assert _reducer(copy.deepcopy(bundle)) is rnet_from_pickle


def test_a_model_changed_after_loading_pickles_in_full(ict):
    derived = [
        replace(ict, name="mine"),
        replace(ict, identity_basis=ict.identity_basis[:10]),
        resolve_model(str(ICT_FILE)),  # the same file, but given as the user's own path
    ]
    for model in derived:
        assert model._embedded is None
        assert _reducer(model) is not embedded_model_from_pickle
    # changed in place (a deep copy, so the shared cached model stays as it is)
    changed = copy.deepcopy(ict)
    changed.mean[0, 0] += 1.0
    assert _reducer(changed) is not embedded_model_from_pickle
    again = pickle.loads(pickle.dumps(changed))
    assert again is not ict and again.mean[0, 0] == ict.mean[0, 0] + 1.0
    assert again._embedded is None and again.fingerprint == changed.fingerprint


def test_a_fine_tuned_or_changed_rnet_pickles_in_full(ict):
    bundle = load_rnet(None, ict)
    s = bundle.input_size
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (2, s, s, 3), dtype=np.uint8)
    lm = np.tile(np.linspace(0.3 * s, 0.7 * s, 68)[:, None], (2, 1, 2))
    tuned, _ = fine_tune_rnet(bundle, ict, crops, lm, np.full(2, 500.0), np.full((2, 2), s / 2), epochs=1)
    assert tuned._embedded is None and _reducer(tuned) is not rnet_from_pickle
    again = pickle.loads(pickle.dumps(tuned))
    key = next(iter(tuned.net.state_dict()))
    assert torch.equal(again.net.state_dict()[key], tuned.net.state_dict()[key])
    assert not all(torch.equal(v, bundle.net.state_dict()[k]) for k, v in tuned.net.state_dict().items())
    # changed in place
    changed = copy.deepcopy(bundle)
    with torch.no_grad():
        next(changed.net.parameters()).add_(1.0)
    assert _reducer(changed) is not rnet_from_pickle


def test_another_version_of_the_embedded_files_is_refused(ict):
    with pytest.raises(ModelFileError, match="another version of the embedded morphable model"):
        embedded_model_from_pickle(ICT_FILE.name, "0" * 64)
    with pytest.raises(ModelFileError, match="another version of the embedded R-Net"):
        rnet_from_pickle(EMBEDDED_WEIGHTS.name, "0" * 64, ict, None)
    with pytest.raises(ModelFileError, match="does not ship"):
        embedded_model_from_pickle("bfm_2099.npz", ict._embedded[1])
    # end to end: the digest recorded in a pickle that is not the installed one
    data = pickle.dumps(Reconstruct3DMM(method="rnet").fit())
    for sha in (ict._embedded[1], load_rnet(None, ict)._embedded[1]):
        assert sha.encode() in data
        with pytest.raises(ModelFileError, match="another version"):
            pickle.loads(data.replace(sha.encode(), b"0" * 64))
