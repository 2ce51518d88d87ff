import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk3dmm import CoefResNetClassifier, ImageResNetClassifier
from sk3dmm.nets import CoefMLP, CoefResNet

FAST = dict(max_epochs=12, random_state=0, module__width=32, batch_size=32)
PAPER = dict(
    module=CoefResNet, max_epochs=12, random_state=0, module__depth=18, module__width=8, batch_size=32
)


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
    assert clf.score(X[160:], y[160:]) > 0.9  # chance is 1/3; measured 1.0
    proba = clf.predict_proba(X[160:])
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)  # float32 round-off; measured 1e-7
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
    clf = CoefResNetClassifier(**PAPER, early_stopping=True, class_weight="balanced")
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


def test_defaults_are_the_residual_mlp_recipe(blobs):
    clf = CoefResNetClassifier()
    p = clf.get_params()
    assert p["module"] is CoefMLP and p["early_stopping"] and p["lr_schedule"] == "cosine"
    assert p["label_smoothing"] == 0.1 and p["optimizer__weight_decay"] == 2.0
    X, y = blobs
    clf = CoefResNetClassifier(**{**FAST, "max_epochs": 6}).fit(X, y)
    assert isinstance(clf.module_, CoefMLP) and clf.hold_out_
    lrs = [h["event_lr"] for h in clf.history if "event_lr" in h] or [
        g["lr"] for g in clf.optimizer_.param_groups
    ]
    assert clf.criterion_.label_smoothing == 0.1
    assert clf.optimizer_.param_groups[0]["lr"] < 1e-3  # the cosine schedule lowered it; measured 0.0
    assert lrs


def test_mlp_ensemble_members_train_alone_and_predict_together():
    torch = pytest.importorskip("torch")
    net = CoefMLP(6, 3, width=8, n_members=4)
    x = torch.randn(5, 6)
    assert net.train()(x).shape == (5, 4, 3)  # every member's logits, for their own losses
    net.input_noise = 0.0
    with torch.no_grad():
        mean_log_prob = net.eval()(x)
        net.train()
        for module in net.modules():  # dropout off, the member-wise training output kept
            if isinstance(module, torch.nn.Dropout):
                module.eval()
        members = torch.softmax(net(x), -1)
    assert members.shape == (5, 4, 3)
    # evaluation gives the log of the members' mean probability (float32 round-off; measured 2e-7 relative)
    np.testing.assert_allclose(mean_log_prob.exp().numpy(), members.mean(1).numpy(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(members[:, 0], members[:, 1])  # members differ (own weights)
    with pytest.raises(ValueError, match="n_members"):
        CoefMLP(6, 3, n_members=0)


def test_every_member_learns(blobs):
    torch = pytest.importorskip("torch")
    X, y = blobs
    clf = CoefResNetClassifier(**FAST, module__n_members=3).fit(X, y)
    clf.module_.train()
    for module in clf.module_.modules():
        if isinstance(module, torch.nn.Dropout):
            module.eval()
    clf.module_.input_noise = 0.0
    with torch.no_grad():
        member_pred = clf.module_(torch.as_tensor(clf._prepare(X, fitting=False))).argmax(-1).numpy()
    truth = clf.label_encoder_.transform(y)
    for m in range(3):
        assert np.mean(member_pred[:, m] == truth) > 0.9  # measured 1.0 for each member
    single = CoefResNetClassifier(**FAST, module__n_members=1).fit(X, y)
    assert single.score(X, y) > 0.9  # measured 1.0


def test_paper_resnet_is_an_option(blobs):
    X, y = blobs
    clf = CoefResNetClassifier(**PAPER).fit(X[:160], y[:160])
    assert isinstance(clf.module_, CoefResNet) and clf.score(X[160:], y[160:]) > 0.85  # measured 1.0


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 30)).astype(np.float32)
    y = np.where(X[:, 0] + rng.normal(0, 2.0, 120) > 0, "a", "b")  # noisy: overfits quickly
    clf = CoefResNetClassifier(
        max_epochs=80,
        patience=5,
        lr=3e-3,
        random_state=0,
        label_smoothing=0.0,
        module__dropout=0.0,
        optimizer__weight_decay=0.0,
    ).fit(X, y)
    losses = np.array(clf.history[:, "valid_loss"])
    assert len(losses) < 80  # it stopped; measured 8 epochs
    best = int(np.argmin(losses))
    assert clf.history[best, "valid_loss_best"]
    # the weights are the best epoch's: re-scoring the held-out part gives that epoch's loss
    ds_train, ds_valid = clf.get_split_datasets(
        clf._prepare(X, fitting=False), clf.label_encoder_.transform(y)
    )
    import torch

    idx = ds_valid.indices
    with torch.no_grad():
        logits = clf.module_.eval()(torch.as_tensor(ds_valid.dataset.X[idx]))
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(ds_valid.dataset.y[idx])).item()
    assert loss == pytest.approx(losses[best], rel=1e-4)  # measured 0.0 (the same loss)


@pytest.fixture
def people():
    """12 people, 20 photos each, 3 classes; every person has a personal offset."""
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(12), 20)
    y = rng.integers(0, 3, len(groups))
    X = rng.normal(0, 3, (3, 10))[y] + rng.normal(0, 2, (12, 10))[groups] + rng.normal(0, 1, (len(y), 10))
    return X.astype(np.float32), np.array(["a", "b", "c"])[y], np.array([f"p{g:02d}" for g in groups])


def _spy_on_split(monkeypatch):
    seen = {}
    original = CoefResNetClassifier.get_split_datasets

    def spy(self, X, y=None, **kwargs):
        train, valid = original(self, X, y, **kwargs)
        seen["train"], seen["valid"] = np.asarray(train.indices), np.asarray(valid.indices)
        return train, valid

    monkeypatch.setattr(CoefResNetClassifier, "get_split_datasets", spy)
    return seen


def test_groups_make_the_early_stopping_hold_out_take_whole_people(people, monkeypatch):
    X, y, groups = people
    seen = _spy_on_split(monkeypatch)
    clf = CoefResNetClassifier(**FAST).fit(X, y, groups=groups)
    train, valid = set(groups[seen["train"]]), set(groups[seen["valid"]])
    assert clf.hold_out_ and valid and not train & valid
    assert len(seen["train"]) + len(seen["valid"]) == len(y)
    assert 0.05 <= len(seen["valid"]) / len(y) <= 0.35  # measured 40 / 240 = 0.17
    assert set(y[seen["valid"]]) == set(y)  # stratified: every class is held out
    CoefResNetClassifier(**FAST).fit(X, y)  # without groups: random samples, people on both sides
    assert set(groups[seen["train"]]) & set(groups[seen["valid"]])
    again = CoefResNetClassifier(**FAST).fit(X, y, groups=groups)
    np.testing.assert_array_equal(clf.predict_proba(X), again.predict_proba(X))


def test_groups_are_routed_by_cross_validation(people):
    from sklearn import config_context
    from sklearn.model_selection import GroupKFold

    X, y, groups = people
    with config_context(enable_metadata_routing=True):
        clf = CoefResNetClassifier(**FAST).set_fit_request(groups=True)
        scores = cross_val_score(
            make_pipeline(StandardScaler(), clf), X, y, params={"groups": groups}, cv=GroupKFold(3)
        )
    assert scores.shape == (3,) and scores.min() > 0.5  # chance is 1/3; measured 0.96


def test_groups_of_the_wrong_length_are_refused(people):
    X, y, groups = people
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        CoefResNetClassifier(**FAST).fit(X, y, groups=groups[:-1])


def test_too_few_groups_per_class_train_whole(people):
    X, y, _ = people
    clf = CoefResNetClassifier(**FAST).fit(X, y, groups=np.where(y == "a", "one", "other"))
    assert not clf.hold_out_


def test_tiny_training_sets_train_whole():
    X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    y = np.array(["a", "a", "b", "b", "c", "d"])  # classes c and d have one sample
    clf = CoefResNetClassifier(max_epochs=3, random_state=0).fit(X, y)
    assert not clf.hold_out_ and len(clf.history) == 3 and "valid_loss" not in clf.history[-1]


def test_mixup_trains_and_is_deterministic(blobs):
    X, y = blobs
    a = CoefResNetClassifier(**FAST, mixup=0.4).fit(X[:160], y[:160])
    b = CoefResNetClassifier(**FAST, mixup=0.4).fit(X[:160], y[:160])
    np.testing.assert_array_equal(a.predict_proba(X[160:]), b.predict_proba(X[160:]))
    assert a.score(X[160:], y[160:]) > 0.85  # measured 1.0


def test_gridsearch_over_module_parameters(blobs):
    X, y = blobs
    grid = GridSearchCV(
        CoefResNetClassifier(**FAST), {"module__n_blocks": [1, 2], "module__dropout": [0.0, 0.3]}, cv=2
    ).fit(X, y)
    assert grid.best_params_["module__n_blocks"] in (1, 2)
    assert len(grid.best_estimator_.module_.blocks) == grid.best_params_["module__n_blocks"]


def test_pipeline_gridsearch_and_cross_val(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), CoefResNetClassifier(**FAST))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85  # measured 1.0
    grid = GridSearchCV(CoefResNetClassifier(**FAST), {"module__width": [16, 32]}, cv=2).fit(X, y)
    assert grid.best_params_["module__width"] in (16, 32)


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
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X), atol=1e-6)  # measured 0.0
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
    assert clf.score(X[48:], labels[48:]) >= 0.8  # chance is 1/2; measured 1.0
    assert clone(clf).get_params()["image_size"] == 32


def test_a_last_batch_of_one_sample_is_dropped_not_fatal(blobs):
    X, y = blobs
    clf = CoefResNetClassifier(**{**FAST, "batch_size": 16, "max_epochs": 2}).fit(X[:33], y[:33])
    assert len(clf.history) == 2
