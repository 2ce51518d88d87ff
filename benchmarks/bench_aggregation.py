"""What each set aggregator gains, on synthetic photos with ground truth (like Table 2 of the
K-means paper), and identity accuracy from sets of 3 under the paper's protocol.

Run: ``python benchmarks/bench_aggregation.py [--n-identities 20] [--method rnet] [--repeats 3]``

Photos: synthetic people at yaws -45, 0, 45 degrees, 3 photos per expression and angle, 30%
occluded or blurred; every photo reconstructed once. Sets of 2, 3 and 5 photos of a person
are drawn at random; the identity shape (neutral face from the aggregated alpha) is compared
with the truth (RMSE in mm over the face area after similarity alignment). C-Net runs three
ways: the embedded weights (trained on other people by tools/train_embedded_cnet.py), and two
C-Nets trained label-free on the first half of the people and tested on the second: reading
quality signals (the default), also reading R-Net's features (Deng et al.'s input), and
trained on the hybrid loss alone (no held-out consistency term). Everything is
repeated over ``--runs`` seeds for the spread. Writes ``results/aggregation.{md,json}``.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import pandas as pd
import torch
from _report import write_report
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sk3dmm import SetAggregator, load_ict_model
from sk3dmm.experiments import synthetic_photo_pool
from sk3dmm.metrics import shape_rmse_mm
from sk3dmm.model_selection import train_test_image_sets


def identity_rmse(model, alpha_hat, alpha_true):
    zeros = np.zeros((len(alpha_hat), model.n_expression))
    return shape_rmse_mm(model, alpha_hat, zeros, alpha_true, zeros)


def draw_sets(pool, people, size, per_person, rng):
    ids = pool.faces.frame["identity"].to_numpy()
    out = []
    for person in people:
        idx = np.flatnonzero((ids == person) & pool.ok)
        out += [rng.choice(idx, size, replace=False) for _ in range(per_person)]
    return out


def objective_agreement(X, truth, mean) -> dict:
    """How often C-Net's label-free loss terms prefer the true identity to the set mean."""
    out = {}
    for term in ("landmark", "photometric"):
        other = "photometric" if term == "landmark" else "landmark"
        judge = SetAggregator("cnet", loss_weights={other: 0.0, "coefficient": 0.0})
        at_truth, at_mean = judge.label_free_loss(X, truth), judge.label_free_loss(X, mean)
        out[f"{term}: truth lower than mean (fraction of sets)"] = float((at_truth < at_mean).mean())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-identities", type=int, default=20)
    p.add_argument("--method", default="rnet", choices=["rnet", "landmarks"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sets-per-person", type=int, default=30)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=202)
    p.add_argument("--out", default="results")
    args = p.parse_args()
    torch.set_num_threads(2)
    model = load_ict_model()
    pool = synthetic_photo_pool(args.n_identities, args.seed, args.method, repeats=args.repeats)
    alpha_cols = slice(0, model.n_identity)
    ids = pool.faces.frame["identity"].to_numpy()
    people = list(dict.fromkeys(ids))
    train_people, test_people = people[: len(people) // 2], people[len(people) // 2 :]
    single = identity_rmse(model, pool.rows[pool.ok, alpha_cols], pool.faces.alpha[pool.ok])
    deg = pool.degradation[pool.ok]
    rows = []
    for run in range(args.runs):
        rng = np.random.default_rng(args.seed + run)
        train_sets = [pool.image_set(s) for s in draw_sets(pool, train_people, 3, 60, rng)]
        trained = SetAggregator("cnet", cnet_weights="scratch", random_state=run).fit(train_sets)
        trained_features = SetAggregator(
            "cnet", cnet_weights="scratch", cnet_inputs="quality+features", random_state=run
        ).fit(train_sets)
        trained_hybrid_only = SetAggregator(
            "cnet", cnet_weights="scratch", loss_weights={"consistency": 0.0}, random_state=run
        ).fit(train_sets)
        for size in (2, 3, 5):
            sets = draw_sets(pool, test_people, size, args.sets_per_person, rng)
            truth = np.stack([pool.faces.alpha[s[0]] for s in sets])
            X = [pool.image_set(s) for s in sets]
            aggregators = {
                "mean": SetAggregator("mean"),
                "median": SetAggregator("median"),
                "k-means (per set)": SetAggregator("kmeans", random_state=run),
                "C-Net (embedded)": SetAggregator("cnet", train_cnet=False),
                "C-Net (label-free fit, other people)": trained,
                "C-Net reading R-Net features (label-free fit, other people)": trained_features,
                "C-Net, hybrid loss only (label-free fit, other people)": trained_hybrid_only,
            }
            for name, agg in aggregators.items():
                est = agg.transform(X)[:, alpha_cols]
                rows.append(
                    {
                        "run": run,
                        "set size": size,
                        "aggregator": name,
                        "identity_mm": identity_rmse(model, est, truth).mean(),
                    }
                )
            rows.append(
                {"run": run, "set size": size, "aggregator": "single photo", "identity_mm": single.mean()}
            )
            if run == 0 and size == 3:
                objective = objective_agreement(X, truth, aggregators["mean"].transform(X)[:, alpha_cols])
    df = pd.DataFrame(rows)
    table = (
        df.groupby(["aggregator", "set size"])["identity_mm"]
        .agg(["mean", "std"])
        .unstack("set size")
        .round(3)
    )
    by_deg = pd.Series(single).groupby(deg).mean().round(3).to_dict()

    # identity from sets of 3, paper protocol (20 training, the rest up to 15 test photos per person)
    ok_idx = np.flatnonzero(pool.ok)
    counts = pd.Series(ids[ok_idx]).value_counts()
    eligible = counts[counts >= 35].index
    acc = {}
    if len(eligible) >= 2:
        keep = ok_idx[np.isin(ids[ok_idx], eligible)]
        tr_sets, te_sets = train_test_image_sets(ids[keep], 20, 15, max_sets_per_group=150, random_state=0)
        tr = [pool.image_set(keep[list(s)]) for s in tr_sets]
        te = [pool.image_set(keep[list(s)]) for s in te_sets]
        y_tr = np.array([ids[keep[s[0]]] for s in tr_sets])
        y_te = np.array([ids[keep[s[0]]] for s in te_sets])
        for name, agg in {
            "mean": SetAggregator("mean"),
            "C-Net (embedded)": SetAggregator("cnet", train_cnet=False),
            "C-Net (embedded, then fitted label-free on the training sets)": SetAggregator(
                "cnet", random_state=0
            ),
        }.items():
            Xtr, Xte = agg.fit_transform(tr)[:, alpha_cols], agg.transform(te)[:, alpha_cols]
            clf = make_pipeline(StandardScaler(), SVC(C=10)).fit(Xtr, y_tr)
            acc[name] = float((clf.predict(Xte) == y_te).mean())
        single_clf = make_pipeline(StandardScaler(), SVC(C=10))
        acc["single photos (no sets)"] = float(
            single_clf.fit(
                np.concatenate([t.coefficients[:, alpha_cols] for t in tr]), np.repeat(y_tr, 3)
            ).score(np.concatenate([t.coefficients[:, alpha_cols] for t in te]), np.repeat(y_te, 3))
        )
    head = (
        f"{int(pool.ok.sum())} of {len(pool.ok)} photos of {args.n_identities} synthetic people reconstructed ({args.method}); "
        f"30% occluded or blurred; test people: {len(test_people)}; {args.runs} runs; {platform.machine()}, torch {torch.__version__}"
    )
    lines = [
        "# Set aggregation: identity shape RMSE (mm), mean and std over runs",
        "",
        head,
        "",
        table.to_markdown(),
        "",
        f"Single photos by degradation (mm): {by_deg}",
        "",
        f"Does the label-free objective prefer the truth? (sets of 3, run 0): {objective}",
        "",
        f"Identity accuracy from sets of 3 (SVC on aggregated alpha; {len(eligible)} people with >= 35 photos, paper protocol 20 / 15): {acc}",
    ]
    write_report(
        args.out,
        "aggregation",
        "\n".join(lines),
        {
            "setup": head,
            "rows": rows,
            "single_by_degradation": by_deg,
            "identity_accuracy_sets_of_3": acc,
            "objective_agreement": objective,
        },
    )


if __name__ == "__main__":
    main()
