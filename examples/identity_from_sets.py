"""Identity from sets of 3 photos, as the paper: Reconstruct3DMM -> SetAggregator(C-Net) -> classifier,
cross-validated so that no photo is in both a training and a test set.

Run: ``python examples/identity_from_sets.py``
"""

import numpy as np
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sk3dmm import Reconstruct3DMM, SetAggregator
from sk3dmm.datasets import make_synthetic_faces
from sk3dmm.model_selection import ImageSetSplit, make_image_sets

faces = make_synthetic_faces(8, image_size=160, angles=("S",), repeats=3, random_state=1)
# keep the photos with a detectable face (results are cached, so the pipeline reuses them)
found = np.isfinite(
    Reconstruct3DMM(method="rnet", coef="alpha", on_error="nan").fit_transform(faces.images)
).all(1)
photos, people = list(faces.images[found]), faces.frame["identity"].to_numpy()[found]
sets = make_image_sets(people, 3, max_sets_per_group=60, random_state=0)
X = [[photos[i] for i in s] for s in sets]
y = np.array([people[s[0]] for s in sets])

for method in ("mean", "cnet"):
    pipe = make_pipeline(
        Reconstruct3DMM(method="rnet", coef=("alpha", "beta"), on_error="nan"),
        SetAggregator(method, train_cnet=False),
        StandardScaler(),
        SVC(C=10),
    )
    scores = cross_val_score(pipe, X, y, cv=ImageSetSplit(sets, people, n_splits=3, random_state=0))
    print(f"{method:5s}: identity accuracy from sets of 3 {scores.mean():.3f} +- {scores.std():.3f}")
