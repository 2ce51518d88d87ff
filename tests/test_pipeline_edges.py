"""The scikit-learn edges of issue #10: output containers, failed rows, caches, skorch options."""

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sk3dmm import (
    CoefResNetClassifier,
    Reconstruct3DMM,
    SetAggregator,
    SkipFailed,
    cache_memory_limit_mb,
    set_cache_memory_limit,
)
from sk3dmm.pipeline._cache import RESULTS, DiskCache, ResultCache


@pytest.mark.parametrize("how", ["set_output", "set_config"])
def test_pandas_output_with_set_input(face_photos, how):
    pd = pytest.importorskip("pandas")
    sets = [face_photos[0:3], face_photos[3:6], face_photos[5:8], face_photos[1:4]]
    y = ["a", "b", "b", "a"]
    pipe = make_pipeline(Reconstruct3DMM(coef="alpha"), SetAggregator("mean"), SVC())
    if how == "set_output":
        pipe.set_output(transform="pandas")
    with sklearn.config_context(transform_output="pandas" if how == "set_config" else "default"):
        pipe.fit(sets, y)
        agg = pipe[:-1].transform(sets)
        assert pipe.predict(sets).shape == (4,)
    assert isinstance(agg, pd.DataFrame) and agg.shape == (4, 100) and agg.columns[0] == "alpha_0"
    photos = Reconstruct3DMM(coef="beta").set_output(transform="pandas").fit_transform(face_photos[:2])
    assert isinstance(photos, pd.DataFrame) and photos.columns[0] == "beta_browDown_L"


def test_skip_failed_in_a_pipeline(face_photos):
    blank = np.full((150, 150, 3), 80, np.uint8)
    X = face_photos + [blank, blank]
    y = np.array(["a", "b"] * 4 + ["a", "b"])
    pipe = make_pipeline(
        Reconstruct3DMM(coef="beta", on_error="nan"), SkipFailed(make_pipeline(StandardScaler(), SVC()))
    )
    pipe.fit(X, y)
    assert pipe[-1].n_failed_fit_ == 2
    pred = pipe.predict(X)
    assert pred[:8].tolist() == pipe[-1].estimator_.predict(pipe[0].transform(face_photos)).tolist()
    assert all(p != p for p in pred[8:])  # NaN for the photos without a face
    # failed rows count as wrong: the score is the accuracy over all 10 photos
    correct = (pred[:8] == y[:8]).sum()
    assert pipe.score(X, y) == pytest.approx(correct / 10)  # measured 0.8 exactly
    scores = cross_val_score(pipe, X, y, cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_disk_cache_is_shared_by_instances_processes_and_runs(tmp_path, face_photos):
    from sk3dmm import clear_cache

    clear_cache()
    folder = tmp_path / "cache"
    first = Reconstruct3DMM(coef="beta", cache=folder).fit_transform(face_photos[:4])
    # one folder per stage (detection, crop, the blendshape scores, fit, the profile R-Net), one
    # entry per photo in each
    assert sorted(len(list(d.glob("*.pkl"))) for d in folder.iterdir()) == [4, 4, 4, 4, 4]
    clear_cache()  # a new process: nothing in memory, all on disk
    disk = DiskCache(folder)
    key_count = sum(1 for _ in folder.rglob("*.pkl"))
    from sk3dmm.faces.landmarkers import landmarker_factory

    DefaultLandmarker = landmarker_factory(Reconstruct3DMM().detector)

    calls = []
    real = DefaultLandmarker.detect
    DefaultLandmarker.detect = lambda self, im: calls.append(1) or real(self, im)
    try:
        again = Reconstruct3DMM(coef="beta", cache=folder).fit_transform(face_photos[:4])
    finally:
        DefaultLandmarker.detect = real
    assert calls == [] and key_count == 20 and disk.misses == 0
    np.testing.assert_array_equal(first, again)
    # a corrupt entry is a miss, recomputed and rewritten
    victim = next(folder.rglob("*.pkl"))
    victim.write_bytes(b"broken")
    clear_cache()
    np.testing.assert_array_equal(
        Reconstruct3DMM(coef="beta", cache=folder).fit_transform(face_photos[:4]), first
    )
    assert victim.stat().st_size > 100  # rewritten, not b"broken": measured 46,489 bytes
    # GridSearchCV with two worker processes reads the same folder
    pipe = make_pipeline(Reconstruct3DMM(coef="beta", cache=folder), SVC())
    search = GridSearchCV(pipe, {"svc__C": [0.1, 1.0]}, cv=2, n_jobs=2)
    search.fit(face_photos[:4], ["a", "b", "a", "b"])
    assert sum(1 for _ in folder.rglob("*.pkl")) == 20  # nothing new was computed
    with pytest.raises(ValueError, match="is a file"):
        Reconstruct3DMM(cache=str(victim)).fit()


def test_memory_cache_is_bounded_in_megabytes(face_photos):
    cache = ResultCache(max_mb=0.1)
    arrays = [np.zeros(10_000, np.float32) for _ in range(5)]  # 40 kB each
    for i, a in enumerate(arrays):
        cache.put(i, type("R", (), {"__init__": lambda s, v: setattr(s, "v", v)})(a))
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.get(0) is None and cache.get(4) is not None
    before = cache_memory_limit_mb()
    try:
        set_cache_memory_limit(0)
        Reconstruct3DMM(coef="beta").fit_transform(face_photos[:2])
        assert len(RESULTS) == 0
    finally:
        set_cache_memory_limit(before)
    assert before == 512.0


def test_warm_start_continues_and_sample_weight_is_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 10)).astype(np.float32)
    y = np.where(X[:, 0] > 0, "x", "y")
    clf = CoefResNetClassifier(max_epochs=3, warm_start=True, random_state=0, module__width=32)
    clf.fit(X, y)
    weights = [p.detach().clone() for p in clf.module_.parameters()]
    clf.fit(X, y)
    assert len(clf.history) == 6  # 3 more epochs on the same net
    # the weights moved on: measured 1.6e-3 at most in the first layer
    assert any(not np.allclose(w, p.detach()) for w, p in zip(weights, clf.module_.parameters()))
    cold = CoefResNetClassifier(max_epochs=3, random_state=0, module__width=32)
    cold.fit(X, y).fit(X, y)
    assert len(cold.history) == 3  # without warm_start, fit starts again
    with pytest.raises(ValueError, match="classes \\['z'\\] the fitted net does not know"):
        clf.fit(X, np.where(X[:, 0] > 0, "x", "z"))
    with pytest.raises(ValueError, match="does not support sample_weight; use class_weight"):
        cold.fit(X, y, sample_weight=np.ones(len(y)))
