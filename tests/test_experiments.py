import json

import numpy as np

from sk3dmm.datasets import make_synthetic_faces
from sk3dmm.experiments import FaceSet, Task, kmeans_identity, run_experiments


def test_harness_on_true_coefficients(tmp_path):
    """With the generator's true coefficients the tasks are easy: the harness must show it."""
    faces = make_synthetic_faces(4, image_size=48, angles=("S", "HR"), gender_shift=2.0, random_state=3)
    noise = np.random.default_rng(0).normal(0, 0.05, faces.alpha.shape)
    data = FaceSet(
        images=list(faces.images),
        frame=faces.frame,
        alpha=faces.alpha + noise.astype(np.float32),
        beta=faces.beta,
        description="test",
        extra={"photos": len(faces.frame), "reconstructed": len(faces.frame)},
    )
    tasks = [
        Task("identity", "identity", "alpha", grouped=False),
        Task("expression", "expression", "beta", grouped=True),
    ]
    results = run_experiments(
        data,
        tasks=tasks,
        n_splits=2,
        epochs=3,
        image_size=32,
        image_width=8,
        out_dir=tmp_path,
        progress=False,
    )
    cv = results[results.scheme.str.contains("fold")]
    logreg = cv[cv.model == "logistic regression"]
    assert logreg.set_index("task").loc["identity", "accuracy"] == 1.0
    assert logreg.set_index("task").loc["expression", "accuracy"] > 0.9
    mlp = cv[cv.model == "CoefResNet (residual MLP)"].set_index("task")
    # 28 training photos per fold: the MLP trails logistic regression a little, but learns
    assert mlp.loc["identity", "accuracy"] == 1.0 and mlp.loc["expression", "accuracy"] > 0.75
    assert ((results.accuracy >= 0) & (results.accuracy <= 1)).all()
    assert {"alpha", "beta", "pixels", "alpha, sets of 3 (mean)", "alpha, sets of 3 (k-means)"} <= set(
        results.input
    )
    # the paper's splits are named; the ones this small set cannot give are said so
    assert "paper: 2975/1925 split (people shared)" in set(results.scheme)
    assert "same split, people disjoint" in set(results.scheme)
    assert any(s.startswith("paper's 20:15 scaled") for s in results.scheme)
    summary = json.loads((tmp_path / "experiments.json").read_text())["summary"]
    assert any(
        "identity, paper's protocol not run: identity protocol needs 10 people" in n for n in summary["notes"]
    )
    assert summary["train_seconds_per_sample_per_epoch"]["ratio pixels / residual MLP"] > 0
    assert (tmp_path / "experiments.md").read_text().startswith("# sk3dmm experiments")
    assert (tmp_path / "confusion_expression.png").stat().st_size > 5000
    assert kmeans_identity(data, 0)["adjusted_rand_index"] > 0.9
