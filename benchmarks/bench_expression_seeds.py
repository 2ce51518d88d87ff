"""Posed expressions from ``beta`` over several classifier seeds: the default method's rows of
the posed-expression photos, classified as in ``bench_real.py`` (5 performer-disjoint folds,
SVC and ``CoefResNetClassifier``), the network once per seed. Run it on two source trees to
tell a change of the rows from a seed's luck::

    python benchmarks/bench_expression_seeds.py --expressions ../shared/realfaces/taiwanese-expressions/images
    PYTHONPATH=/tmp/old python benchmarks/bench_expression_seeds.py --expressions ...
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from bench_real import expression_files
from sklearn import config_context
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expressions", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cache", default=False, help="a folder: reuse the detections of earlier runs")
    ap.add_argument("--n-iter", type=int, default=None, help="the fit's iterations (default: the estimator's)")
    args = ap.parse_args()

    import sk3dmm
    from sk3dmm import CoefResNetClassifier, Reconstruct3DMM

    files, labels, people = expression_files(args.expressions)
    est = Reconstruct3DMM(profiles="fit", on_error="nan", cache=args.cache, progress=False)  # as bench_real.py
    if args.n_iter is not None:
        est.set_params(n_iter=args.n_iter)
    recs = est.fit().reconstruct([str(p) for p in files])
    found = np.array([r is not None for r in recs])
    beta = np.stack([r.coefficients["beta"] for r in recs if r is not None])
    y, groups = labels[found], people[found]

    def score(clf) -> float:
        with config_context(enable_metadata_routing=True):
            if isinstance(clf, CoefResNetClassifier):  # early stopping holds out whole performers
                clf.set_fit_request(groups=True)
            pipe = make_pipeline(StandardScaler(), clf)
            return 100 * float(cross_val_score(pipe, beta, y, params={"groups": groups}, cv=GroupKFold(5)).mean())

    mlp = [score(CoefResNetClassifier(random_state=seed)) for seed in range(args.seeds)]
    where = Path(sk3dmm.__file__).parent
    print(f"sk3dmm {sk3dmm.__version__} ({where}), n_iter={est.n_iter}; {found.sum()} of {len(files)} photos")
    print(f"| SVC (RBF) | CoefResNetClassifier, seeds 0-{args.seeds - 1} | mean (sd) |")
    print("|---|---|---|")
    spread = statistics.stdev(mlp) if len(mlp) > 1 else 0.0
    cells = " / ".join(f"{m:.1f}" for m in mlp)
    print(f"| {score(SVC()):.1f}% | {cells} | {statistics.mean(mlp):.1f}% ({spread:.1f}) |")


if __name__ == "__main__":
    main()
