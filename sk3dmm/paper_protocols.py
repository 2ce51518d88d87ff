"""The train/test splits of the paper ("Enhancing Facial Classification and Recognition using 3D
Facial Models and Deep Learning", 2023), named as such, and their honest variants.

* identity: 10 people, 20 training and 15 validation photos per person, every set of 3 photos
  within each side (C(20, 3) = 1140 and C(15, 3) = 455 sets per person);
* expression: 2975 training and 1925 test photos drawn from all 4900 KDEF photos (people are
  shared between the sides: the paper's number), and the same proportions with people disjoint;
* gender (FEI): 50 women + 50 men to train, another 50 + 50 to test.

A split that the data cannot give raises :class:`ProtocolError` saying why.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.utils import check_random_state

PAPER_EXPRESSION_TRAIN, PAPER_EXPRESSION_TEST = 2975, 1925


class ProtocolError(ValueError):
    """The data cannot give the protocol's split (too few people or photos)."""


def identity_sets(
    frame: pd.DataFrame,
    n_train: int = 20,
    n_valid: int = 15,
    set_size: int = 3,
    n_people: int = 10,
    random_state=0,
) -> tuple[list[tuple[str, tuple[int, ...]]], list[tuple[str, tuple[int, ...]]]]:
    """Training and validation image sets of the paper's identity protocol.

    Parameters
    ----------
    frame : DataFrame with an ``identity`` column, one row per photo
    n_train, n_valid : photos per person on each side (drawn at random, disjoint)
    set_size : photos per set; every combination within each side is a set
    n_people : the first ``n_people`` identities (sorted)

    Returns
    -------
    train, valid : lists of (identity, row indices of the set's photos)

    Examples
    --------
    >>> frame = pd.DataFrame({"identity": np.repeat(["p1", "p2"], 35)})
    >>> train, valid = identity_sets(frame, n_people=2)
    >>> len(train), len(valid)
    (2280, 910)
    """
    rng = check_random_state(random_state)
    people = sorted(frame["identity"].unique())
    if len(people) < n_people:
        raise ProtocolError(f"identity protocol needs {n_people} people; the data has {len(people)}")
    train, valid = [], []
    for person in people[:n_people]:
        rows = np.flatnonzero(frame["identity"].to_numpy() == person)
        if len(rows) < n_train + n_valid:
            raise ProtocolError(
                f"identity protocol needs {n_train} + {n_valid} photos per person; {person} has {len(rows)} "
                "(with faces found)"
            )
        rows = rng.permutation(rows)
        for side, chosen in ((train, rows[:n_train]), (valid, rows[n_train : n_train + n_valid])):
            side.extend(
                (person, tuple(int(i) for i in c)) for c in itertools.combinations(sorted(chosen), set_size)
            )
    return train, valid


def scaled_identity_sets(frame: pd.DataFrame, set_size: int = 3, n_people: int = 10, random_state=0):
    """The identity protocol at the paper's 20 : 15 proportion for people with fewer photos:
    ``n_train = round(4/7 m)``, ``n_valid = m - n_train`` for the smallest photo count ``m``,
    with up to ``n_people`` people."""
    people = sorted(frame["identity"].unique())[:n_people]
    n_people = len(people)
    m = int(frame["identity"].value_counts()[people].min())
    n_train = round(m * 20 / 35)
    if min(n_train, m - n_train) < set_size:
        raise ProtocolError(f"too few photos per person ({m}) for sets of {set_size} on both sides")
    return identity_sets(frame, n_train, m - n_train, set_size, n_people, random_state), (
        n_train,
        m - n_train,
    )


def expression_split(y, groups=None, random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the paper's expression split: 2975 / 1925 photos of 4900 (the same
    proportions, 60.7% / 39.3%, for another number of photos), stratified by expression.

    With ``groups`` (the person of each photo), people are disjoint between the sides instead
    (about the same proportion of people), which is the honest measure: the paper's split
    puts photos of the same person on both sides.
    """
    n = len(y)
    test_size = round(n * PAPER_EXPRESSION_TEST / (PAPER_EXPRESSION_TRAIN + PAPER_EXPRESSION_TEST))
    if groups is None:
        train, test = train_test_split(
            np.arange(n), test_size=test_size, stratify=y, random_state=random_state
        )
        return np.sort(train), np.sort(test)
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ProtocolError("a subject-disjoint split needs at least two people")
    split = GroupShuffleSplit(1, test_size=PAPER_EXPRESSION_TEST / 4900, random_state=random_state)
    train, test = next(split.split(np.zeros(n), y, groups))
    return np.sort(train), np.sort(test)


def gender_split(
    frame: pd.DataFrame, n_per_gender: int = 50, random_state=0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the paper's FEI gender split: ``n_per_gender`` women and men to train, another
    ``n_per_gender`` of each to test (people disjoint; all of a person's photos on one side)."""
    rng = check_random_state(random_state)
    train_people, test_people = [], []
    for gender in sorted(frame["gender"].dropna().unique()):
        people = sorted(frame.loc[frame["gender"] == gender, "identity"].unique())
        if len(people) < 2 * n_per_gender:
            raise ProtocolError(
                f"gender protocol needs {2 * n_per_gender} people of each gender; {gender}: {len(people)}"
            )
        people = rng.permutation(people)
        train_people += list(people[:n_per_gender])
        test_people += list(people[n_per_gender : 2 * n_per_gender])
    ids = frame["identity"].to_numpy()
    return np.flatnonzero(np.isin(ids, train_people)), np.flatnonzero(np.isin(ids, test_people))
