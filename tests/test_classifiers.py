import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk3dmm import CoefResNetClassifier, ImageResNetClassifier

FAST = dict(max_epochs=12, random_state=0, module__depth=18, module__width=8, batch_size=32)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (3, 20))
    y = rng.integers(0, 3, 240)
    X = (centers[y] + rng.normal(0, 1, (240, 20))).astype(np.float32)
    labels = np.array(["happy", "sad", "angry"])[y]
    return X, labels


def test_learns_string_labels_and_probabilities(blobs):
    X, y = blobs
    clf = CoefResNetClassifier(**FAST).fit(X[:160], y[:160])
    assert set(clf.classes_) == {"happy", "sad", "angry"}
    assert clf.score(X[160:], y[160:]) > 0.9
    proba = clf.predict_proba(X[160:])
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    assert clf.predict(X[:1])[0] in clf.classes_
    assert clf.n_features_in_ == 20 and clf.mean_.shape == (20,)


def test_random_state_makes_training_identical_and_leaves_torch_rng_alone(blobs):
    import torch

    X, y = blobs
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = CoefResNetClassifier(**FAST).fit(X, y).predict_proba(X)
    after = torch.rand(1)
    b = CoefResNetClassifier(**FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(before, after)  # the global generator was restored
    c = CoefResNetClassifier(**{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, c)


def test_clone_params_and_module_params(blobs):
    clf = CoefResNetClassifier(**FAST, early_stopping=True, class_weight="balanced")
    params = clf.get_params()
    assert params["module__depth"] == 18 and params["device"] == "auto" and params["early_stopping"]
    twin = clone(clf)
    assert twin.get_params()["module__width"] == 8 and twin.get_params()["device"] == "auto"
    twin.set_params(module__width=4, lr=0.01)
    assert twin.module__width == 4 and twin.lr == 0.01
    X, y = blobs
    twin.fit(X, y)
    assert twin.module_.backbone.layer1[0].conv1.out_channels == 4
    assert "valid_loss" in twin.history[-1] and len(twin.history) <= 12


def test_pipeline_gridsearch_and_cross_val(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), CoefResNetClassifier(**FAST))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    grid = GridSearchCV(CoefResNetClassifier(**FAST), {"module__width": [4, 8]}, cv=2).fit(X, y)
    assert grid.best_params_["module__width"] in (4, 8)


def test_class_weight_balanced_shifts_predictions_to_the_rare_class():
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (300, 6)).astype(np.float32)
    y = np.where(X[:, 0] + rng.normal(0, 1.2, 300) > 1.6, "rare", "common")
    plain = CoefResNetClassifier(**FAST).fit(X, y)
    weighted = CoefResNetClassifier(**FAST, class_weight="balanced").fit(X, y)
    assert (weighted.predict(X) == "rare").sum() > (plain.predict(X) == "rare").sum()


def test_bad_input_is_named(blobs):
    X, y = blobs
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CoefResNetClassifier(**FAST).fit(bad, y)
    with pytest.raises(ValueError, match="requires y"):
        CoefResNetClassifier(**FAST).fit(X, None)
    clf = CoefResNetClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5])


def test_pickle_round_trip(blobs):
    X, y = blobs
    clf = CoefResNetClassifier(**FAST).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert again.get_params()["device"] == "auto"


def test_image_classifier_learns_a_visible_difference():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    imgs = rng.integers(0, 60, (64, 40, 48, 3)).astype(np.uint8)
    imgs[y == 1, 10:30, 10:30] = 230  # a bright square marks class 1
    X = list(imgs)
    X[0] = imgs[0, :, :, 0]  # grayscale and differently sized inputs work too
    X[1] = np.pad(imgs[1], ((4, 4), (0, 0), (0, 0)))
    labels = np.array(["plain", "square"])[y]
    clf = ImageResNetClassifier(
        image_size=32, max_epochs=10, batch_size=8, random_state=0, module__depth=18, module__width=8, lr=3e-3
    )
    clf.fit(X[:48], labels[:48])
    assert clf.score(X[48:], labels[48:]) >= 0.8
    assert clone(clf).get_params()["image_size"] == 32


def test_a_last_batch_of_one_sample_is_dropped_not_fatal(blobs):
    X, y = blobs
    clf = CoefResNetClassifier(**{**FAST, "batch_size": 16, "max_epochs": 2}).fit(X[:33], y[:33])
    assert len(clf.history) == 2
