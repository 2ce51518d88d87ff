import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from sk3dmm import ModelFileError, Reconstruct3DMM, SetAggregator
from sk3dmm.model_selection import (
    ImageSetSplit,
    make_image_sets,
    photos_of,
    split_photos_per_person,
    train_test_image_sets,
)
from sk3dmm.transformers import ImageSet
from sk3dmm.transformers._cnet import N_QUALITY


def test_set_counts_match_the_paper():
    groups = np.repeat(["a", "b"], 20)
    sets = make_image_sets(groups, 3)
    assert len(sets) == 2 * 1140
    assert all(len(set(groups[list(s)])) == 1 for s in sets)
    few = make_image_sets(groups, 3, max_sets_per_group=100, random_state=0)
    assert len(few) == 200 and few == make_image_sets(groups, 3, max_sets_per_group=100, random_state=0)


def test_paper_protocol_keeps_photos_apart():
    groups = np.repeat(np.arange(4), 35)
    train_sets, test_sets = train_test_image_sets(groups, 20, 15, random_state=0)
    assert len(train_sets) == 4 * 1140 and len(test_sets) == 4 * 455
    assert not photos_of(train_sets, range(len(train_sets))) & photos_of(test_sets, range(len(test_sets)))
    with pytest.raises(ValueError, match="has 35 photos; 40 are needed"):
        split_photos_per_person(groups, 30, 10)


def test_image_set_split_never_shares_a_photo():
    groups = np.repeat(np.arange(5), 9)
    sets = make_image_sets(groups, 3)
    cv = ImageSetSplit(sets, groups, n_splits=3, random_state=0)
    n_test = 0
    for train, test in cv.split():
        assert len(train) and len(test)
        assert not photos_of(sets, train) & photos_of(sets, test)
        n_test += len(test)
    assert n_test > 0
    # the naive split of sets (what this helper prevents) does share photos
    rng = np.random.default_rng(0)
    naive = rng.permutation(len(sets))
    assert photos_of(sets, naive[: len(sets) // 2]) & photos_of(sets, naive[len(sets) // 2 :])


def test_aggregators_on_plain_arrays():
    rng = np.random.default_rng(0)
    sets = [rng.normal(0, 0.1, (5, 4)) + i for i in range(3)]
    sets[0][4] = 100.0  # an outlying photo
    mean = SetAggregator("mean").fit_transform(sets)
    median = SetAggregator("median").fit_transform(sets)
    km = SetAggregator("kmeans", random_state=0).fit_transform(sets)
    assert mean.shape == (3, 4) and mean[0, 0] > 10  # measured 19.9
    # the robust ones ignore the outlier: measured 0.054 and 0.086 (0.065 and 0.090 the worst of
    # seeds 0-4), and k-means keeps a clean set's mean to 0.032 (0.097 the worst)
    assert abs(median[0, 0]) < 0.3 and abs(km[0, 0]) < 0.3
    np.testing.assert_allclose(km[1], sets[1].mean(0), atol=0.2)
    glob = SetAggregator("kmeans_global", random_state=0).fit(sets[1:], y=[1, 2])
    out = glob.transform(sets[1:])
    assert np.allclose(np.sort(out[:, 0]), np.sort(glob.cluster_centers_[:, 0]))  # measured 0.0 off
    with pytest.raises(ValueError, match="none of the 1 sets has a reconstructed photo"):
        SetAggregator().fit_transform([np.full((2, 4), np.nan)])
    # a set whose photos all failed is a NaN row; the others are aggregated as before
    mixed = SetAggregator().fit_transform([sets[1], np.full((2, 4), np.nan), sets[2]])
    assert np.isnan(mixed[1]).all() and np.isfinite(mixed[[0, 2]]).all()
    np.testing.assert_allclose(mixed[[0, 2]], mean[1:], rtol=1e-6)  # measured 0.0 off
    with pytest.raises(ValueError, match="at least one image set; got none"):
        SetAggregator().fit([])
    with pytest.raises(ValueError, match="needs the image sets"):
        SetAggregator("cnet", model=None).fit(sets)


def test_sets_through_reconstruct_and_aggregate(face_photos):
    sets = [face_photos[0:3], face_photos[3:6], [face_photos[6], face_photos[7]]]
    rec = Reconstruct3DMM(coef="alpha")
    out = rec.fit_transform(sets)
    assert out.dtype == object and len(out) == 3 and isinstance(out[0], ImageSet)
    assert out[2].coefficients.shape == (2, 100) and len(out[0].reconstructions) == 3
    agg = SetAggregator("median").fit(out)
    X = agg.transform(out)
    assert X.shape == (3, 100)
    np.testing.assert_allclose(X[2], np.median(out[2].coefficients, 0), rtol=1e-6)  # measured 0.0 off
    assert agg.get_feature_names_out()[0] == "alpha_0"


def test_cnet_trains_label_free_and_starts_as_the_mean(face_photos):
    sets = [face_photos[0:3], face_photos[3:6], face_photos[5:8], face_photos[0:8:3]]
    out = Reconstruct3DMM(coef=("alpha", "beta")).fit_transform(sets)
    fresh = SetAggregator("cnet", epochs=15, random_state=0, cnet_weights="scratch")
    fresh.fit(out)
    assert len(fresh.history_) == 15 and fresh.history_[-1] < fresh.history_[0]
    X = fresh.transform(out)
    assert X.shape == (4, 153) and np.isfinite(X).all()
    # expression columns are plain means; identity columns are a convex combination
    np.testing.assert_allclose(X[0, 100:], out[0].coefficients[:, 100:].mean(0), rtol=1e-5)  # measured 0.0
    lo, hi = out[0].coefficients[:, :100].min(0), out[0].coefficients[:, :100].max(0)
    assert ((X[0, :100] >= lo - 1e-5) & (X[0, :100] <= hi + 1e-5)).all()
    assert clone(fresh).get_params()["method"] == "cnet"
    # label-free and deterministic: the same seed gives the same confidences
    again = SetAggregator("cnet", epochs=15, random_state=0, cnet_weights="scratch").fit(out)
    np.testing.assert_array_equal(again.transform(out), X)
    # its objective, evaluated at the aggregate it learnt, is below the plain mean's
    mean_alpha = SetAggregator("mean").fit_transform(out)[:, :100]
    assert fresh.label_free_loss(out).mean() < fresh.label_free_loss(out, mean_alpha).mean()


def test_identity_from_sets_pipeline_with_leakage_safe_cv(face_photos):
    photos = face_photos  # 8 photos of one person; label by flip (a "person" of 4 photos each)
    groups = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    sets = make_image_sets(groups, 2)
    X = [[photos[i] for i in s] for s in sets]
    y = np.array([groups[s[0]] for s in sets])
    pipe = make_pipeline(
        Reconstruct3DMM(coef="alpha"), SetAggregator("mean"), LogisticRegression(max_iter=500)
    )
    scores = cross_val_score(pipe, X, y, cv=ImageSetSplit(sets, groups, n_splits=2, random_state=0))
    assert len(scores) == 2 and np.isfinite(scores).all()


def test_cnet_reads_rnet_features_and_round_trips(face_photos, tmp_path):
    sets = [face_photos[0:3], face_photos[3:6], face_photos[5:8]]
    rnet_sets = Reconstruct3DMM(method="rnet", coef="alpha").fit_transform(sets)
    feats = rnet_sets[0].reconstructions[0].features
    assert feats.shape == (256,) and np.isfinite(feats).all()
    agg = SetAggregator(
        "cnet", cnet_weights="scratch", cnet_inputs="quality+features", epochs=2, random_state=0
    ).fit(rnet_sets)
    assert agg.cnet_["net"].n_in == N_QUALITY + 256
    agg.save_cnet(tmp_path / "cnet.pt")
    reloaded = SetAggregator(
        "cnet", cnet_weights=tmp_path / "cnet.pt", cnet_inputs="quality+features", train_cnet=False
    ).fit(rnet_sets)
    np.testing.assert_array_equal(reloaded.transform(rnet_sets), agg.transform(rnet_sets))
    # R-Net features need R-Net reconstructions; weights must read what they are asked to
    landmark_sets = Reconstruct3DMM(coef="alpha").fit_transform(sets)
    with pytest.raises(ValueError, match="method='rnet'"):
        SetAggregator("cnet", cnet_inputs="quality+features").fit(landmark_sets)
    with pytest.raises(ModelFileError, match="reads 'quality\\+features'"):
        SetAggregator("cnet", cnet_weights=tmp_path / "cnet.pt").fit(landmark_sets)
    # the embedded C-Net reads quality signals only, so it works on either reconstruction
    assert np.isfinite(SetAggregator("cnet", train_cnet=False).fit_transform(landmark_sets)).all()


def test_held_out_consistency_compares_each_photo_with_the_others():
    import torch

    from sk3dmm.training import held_out_consistency

    alpha = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [5.0, 2.0]], [[1.0, 1.0], [9.0, 9.0], [0.0, 0.0]]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])  # the second set has one photo
    conf = torch.ones(2, 3, 2)
    gram = torch.eye(2)
    got = held_out_consistency(conf, alpha, mask, gram)
    # photo 0 vs mean(3, 5 | 0, 2) = (4, 1): 9 + 1; photo 1 vs (3, 1): 0 + 1; photo 2 vs (2, 0): 9 + 4
    torch.testing.assert_close(got, torch.tensor([(10.0 + 1.0 + 13.0) / 3, 0.0]))
    # confidence moves the held-out aggregate: weight photo 2 up and photo 0's error grows
    conf[0, 2] = 3.0
    assert held_out_consistency(conf, alpha, mask, gram)[0] != got[0]
