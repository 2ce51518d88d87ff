"""GridSearchCV over a coefficient pipeline, then the same pipeline with SVC and KMeans swapped in.

Run: ``python examples/grid_search_pipeline.py`` (a few minutes on 2 cores).
"""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sk3dmm import CoefResNetClassifier, Reconstruct3DMM
from sk3dmm.datasets import make_synthetic_faces

faces = make_synthetic_faces(10, image_size=160, angles=("S", "HL", "HR"), random_state=0)
X, y, groups = list(faces.images), faces.frame["expression"].to_numpy(), faces.frame["identity"].to_numpy()

# Reconstruct once; the per-image cache makes every fold and grid point reuse it.
reconstruct = Reconstruct3DMM(method="rnet", coef="beta", on_error="nan")
beta = reconstruct.fit_transform(X)
ok = np.isfinite(beta).all(1)
X, y, groups = [x for x, k in zip(X, ok) if k], y[ok], groups[ok]

pipe = make_pipeline(
    Reconstruct3DMM(method="rnet", coef="beta"),
    CoefResNetClassifier(max_epochs=20, batch_size=16, random_state=0),
)
grid = GridSearchCV(pipe, {"coefresnetclassifier__module__n_blocks": [1, 2]}, cv=GroupKFold(3))
grid.fit(X, y, groups=groups)
print("CoefResNet, best depth:", grid.best_params_, f"accuracy {grid.best_score_:.3f}")

svc = make_pipeline(Reconstruct3DMM(method="rnet", coef="beta"), StandardScaler(), SVC())
grid = GridSearchCV(svc, {"svc__C": [1, 10]}, cv=GroupKFold(3)).fit(X, y, groups=groups)
print("SVC, best C:", grid.best_params_, f"accuracy {grid.best_score_:.3f}")

alpha = Reconstruct3DMM(method="rnet", coef="alpha").fit_transform(X)
labels = KMeans(len(set(groups)), n_init=10, random_state=0).fit_predict(
    StandardScaler().fit_transform(alpha)
)
print(f"k-means on alpha vs identity: adjusted Rand index {adjusted_rand_score(groups, labels):.3f}")
