"""Batches overlapped (the next one detected while this one is fitted), ``n_jobs``, and the same
path under joblib's dask backend (marked slow: ``make test-slow``)."""

from __future__ import annotations

import numpy as np
import pytest

from sk3dmm import Reconstruct3DMM
from sk3dmm.pipeline import reconstruct_batches


def test_overlapped_batches_give_the_rows_of_one_batch(face_photos):
    photos = face_photos[:6]
    whole = Reconstruct3DMM(cache=False, batch_size=len(photos)).fit_transform(photos)
    est = Reconstruct3DMM(cache=False, batch_size=2, n_jobs=2)
    overlapped = est.fit_transform(photos)
    np.testing.assert_array_equal(overlapped, whole)
    assert (est.cache_stats_["computed"] == len(photos)).all()
    assert (est.cache_stats_["seconds"] > 0).all()


def test_a_bad_photo_in_a_later_batch_fails_alone_and_raise_stops_at_the_first(face_photos, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    photos = [face_photos[0], face_photos[1], str(broken), face_photos[2]]
    est = Reconstruct3DMM(cache=False, batch_size=1, on_error="nan")
    rows = est.fit_transform(photos)
    assert np.isnan(rows[2]).all() and np.isfinite(np.delete(rows, 2, 0)).all()
    assert est.failures_["index"].tolist() == [2] and est.failures_["stage"].tolist() == ["reading"]
    with pytest.raises(Exception, match="broken.jpg"):
        Reconstruct3DMM(cache=False, batch_size=1).fit_transform(photos)


def test_batches_are_yielded_in_order_with_their_sizes(face_photos):
    est = Reconstruct3DMM(cache=False, batch_size=2)
    est.fit(face_photos[:1])
    sizes = []
    seen = []
    names = {i: f"photo {i}" for i in range(5)}
    from sk3dmm.pipeline import ErrorPolicy, StageCache

    batches = ({i: face_photos[i] for i in range(s, min(5, s + 2))} for s in range(0, 5, 2))
    for size, done in reconstruct_batches(batches, names, est._stages(est._setup(), True), ErrorPolicy(), StageCache([])):
        sizes.append(size)
        seen += sorted(done)
    assert sizes == [2, 2, 1] and seen == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_the_dask_backend_gives_the_rows_of_n_jobs_1_and_loads_the_models_once_per_worker(face_photos, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    from joblib import parallel_config

    paths = []
    for i, photo in enumerate(face_photos[:6]):
        from PIL import Image

        paths.append(str(tmp_path / f"photo{i}.png"))
        Image.fromarray(photo).save(paths[-1])
    expected = Reconstruct3DMM(cache=False, n_jobs=1).fit_transform(paths)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        with parallel_config(backend="dask"):
            rows = Reconstruct3DMM(cache=False, batch_size=3).fit_transform(paths)
            again = Reconstruct3DMM(cache=False, batch_size=3).fit_transform(paths[::-1])

        def loads():
            from sk3dmm.faces.landmarkers import _mediapipe_v2

            return _mediapipe_v2._v2_for.cache_info().misses

        per_worker = client.run(loads)
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_array_equal(again, expected[::-1])
    assert len(per_worker) == 2 and all(n <= 1 for n in per_worker.values()), per_worker
    assert sum(per_worker.values()) >= 1  # the workers did detect


def test_stages_run_in_the_calling_thread_unless_workers_are_asked_for():
    import threading

    from joblib import parallel_backend

    from sk3dmm.pipeline._policy import in_workers

    def where(i):
        return i, threading.current_thread().name

    here = threading.current_thread().name
    assert in_workers(None, where, [(0,), (1,)]) == [(0, here), (1, here)]
    assert in_workers(1, where, [(0,)]) == [(0, here)]
    with parallel_backend("threading", n_jobs=2):  # a caller's backend: joblib's workers
        names = {name for _, name in in_workers(None, where, [(i,) for i in range(8)])}
    assert here not in names


def test_importing_sk3dmm_before_torch_shortens_openmps_spin():
    import os
    import subprocess
    import sys

    def spin(code: str, **env) -> str:
        base = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
        done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    show = "import os; print(os.environ.get('GOMP_SPINCOUNT'))"
    assert spin(f"import sk3dmm, torch; {show}") == "10000"
    assert spin(f"import sk3dmm; {show}", GOMP_SPINCOUNT="123") == "123"  # the user's own setting
    assert spin(f"import torch, sk3dmm; {show}") == "None"  # too late for libgomp: left alone
