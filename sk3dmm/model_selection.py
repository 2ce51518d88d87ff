"""Image sets without leakage: sets built from one side of a split only.

An identity sample in the paper is a set of 3 photos of one person. If sets are built from
all photos and then split, one photo can sit in a training set and a test set at once: the
test is then partly on seen photos. Here photos are split first, per person, and sets are
built inside each side.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from sklearn.utils import check_random_state


def make_image_sets(
    groups, set_size: int = 3, max_sets_per_group: int | None = None, random_state=None
) -> list[tuple[int, ...]]:
    """All ``set_size``-combinations of the photos of each group (person), as index tuples.

    20 photos give C(20, 3) = 1140 sets, 15 give 455, as in the paper. With
    ``max_sets_per_group`` a random subset is kept when there are more.

    Parameters
    ----------
    groups : array-like of shape (n_photos,)
        Person of each photo.
    set_size : int, default=3
    max_sets_per_group : int, optional
    random_state : int, RandomState or None

    Returns
    -------
    list of tuples of photo indices, grouped by person in order of first appearance
    """
    groups = np.asarray(groups)
    rng = check_random_state(random_state)
    out: list[tuple[int, ...]] = []
    for g in dict.fromkeys(groups.tolist()):
        idx = np.flatnonzero(groups == g)
        combos = list(combinations(idx.tolist(), set_size))
        if max_sets_per_group is not None and len(combos) > max_sets_per_group:
            keep = np.sort(rng.choice(len(combos), max_sets_per_group, replace=False))
            combos = [combos[i] for i in keep]
        out += combos
    return out


def split_photos_per_person(groups, n_train: int, n_test: int | None = None, random_state=None):
    """Split each person's photos into ``n_train`` training and ``n_test`` test photos.

    The paper: 20 training and 15 validation photos per person. Returns two arrays of photo
    indices; a person with too few photos is an error naming them.
    """
    groups = np.asarray(groups)
    rng = check_random_state(random_state)
    train, test = [], []
    for g in dict.fromkeys(groups.tolist()):
        idx = rng.permutation(np.flatnonzero(groups == g))
        need = n_train + (n_test or 0)
        if len(idx) < need:
            raise ValueError(
                f"person {g!r} has {len(idx)} photos; {need} are needed ({n_train} + {n_test or 0})"
            )
        train += idx[:n_train].tolist()
        test += (idx[n_train : n_train + n_test] if n_test is not None else idx[n_train:]).tolist()
    return np.array(sorted(train)), np.array(sorted(test))


def train_test_image_sets(
    groups, n_train=20, n_test=15, set_size=3, max_sets_per_group=None, random_state=None
):
    """The paper's protocol: photos split per person, then sets built within each side.

    Returns
    -------
    train_sets, test_sets : lists of photo-index tuples; no photo is in both
    """
    rng = check_random_state(random_state)
    train, test = split_photos_per_person(groups, n_train, n_test, rng)
    groups = np.asarray(groups)
    train_sets = [
        tuple(train[list(s)]) for s in make_image_sets(groups[train], set_size, max_sets_per_group, rng)
    ]
    test_sets = [
        tuple(test[list(s)]) for s in make_image_sets(groups[test], set_size, max_sets_per_group, rng)
    ]
    return train_sets, test_sets


class ImageSetSplit:
    """Cross-validation over image sets that never shares a photo between train and test.

    Photos are split into ``n_splits`` folds within each person; a set goes to the test side
    when all its photos are in the test fold, to the training side when none is, and is
    left out when it straddles. Use it as ``cv=`` in ``cross_val_score`` / ``GridSearchCV``
    with X a list of sets.

    Parameters
    ----------
    sets : list of tuples of photo indices (e.g. from :func:`make_image_sets`)
    groups : array-like, person of each photo
    n_splits : int, default=5
    random_state : int, RandomState or None
    """

    def __init__(self, sets, groups, n_splits: int = 5, random_state=None):
        self.sets = sets
        self.groups = groups
        self.n_splits = n_splits
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits

    def split(self, X=None, y=None, groups=None):
        photo_groups = np.asarray(self.groups)
        rng = check_random_state(self.random_state)
        fold = np.empty(len(photo_groups), dtype=int)
        for g in dict.fromkeys(photo_groups.tolist()):
            idx = rng.permutation(np.flatnonzero(photo_groups == g))
            fold[idx] = np.arange(len(idx)) % self.n_splits
        set_folds = [set(fold[list(s)].tolist()) for s in self.sets]
        for k in range(self.n_splits):
            test = [i for i, f in enumerate(set_folds) if f == {k}]
            train = [i for i, f in enumerate(set_folds) if k not in f]
            yield np.array(train), np.array(test)


def photos_of(sets, which) -> set[int]:
    """All photo indices used by the sets at positions ``which``."""
    return {p for i in which for p in sets[i]}
