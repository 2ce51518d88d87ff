"""Does the expression prior cost expression accuracy on real photos? The landmark fit's beta
at several ``expression_reg`` values, classified with performer-disjoint folds.

Photos: the posed-expression set of ``../shared/realfaces`` (file names ``PPTVeNN.jpg``:
performer, type, view, expression a-g, serial; evaluation only). dlib detects each photo once;
the fit is repeated per prior value with Reconstruct3DMM's camera and settings.

    python benchmarks/bench_expression_prior.py --photos ../shared/realfaces/taiwanese-expressions/images
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch
from _report import write_report
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sk3dmm import FaceNotFoundError, load_ict_model
from sk3dmm.faces import detect_faces, largest_face, load_image
from sk3dmm.fitting import default_focal, fit_shape_and_pose, fit_to_blocks

NAME = re.compile(r"(\d\d)(\d)(\d)([a-g])\d+\.jpg$")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", required=True)
    p.add_argument("--priors", type=float, nargs="+", default=[1e-2, 0.1, 0.3])
    p.add_argument("--out", default="results/expression_prior")
    args = p.parse_args()
    model = load_ict_model()
    landmarks, sizes, labels, people = [], [], [], []
    files = sorted(Path(args.photos).glob("*.jpg"))
    for f in files:
        m = NAME.match(f.name)
        if m is None:
            continue
        image = load_image(f)
        try:
            landmarks.append(largest_face(detect_faces(image)).landmarks)
        except FaceNotFoundError:
            continue
        sizes.append((image.shape[1], image.shape[0]))
        labels.append(m.group(4))
        people.append(m.group(1))
    landmarks, sizes = np.stack(landmarks), np.array(sizes, float)
    labels, people = np.array(labels), np.array(people)
    lines = [
        f"Expression from the landmark fit's beta: {len(labels)} photos with a dlib face of "
        f"{len(files)} files, {len(set(people))} performers, 7 classes, 5 performer-disjoint folds",
        "",
        "| expression_reg | SVC (RBF) | logistic regression |",
        "|---|---|---|",
    ]
    data = {}
    for prior in args.priors:
        fit = fit_shape_and_pose(
            model, landmarks, default_focal(sizes), sizes / 2, expression_reg=prior, dtype=torch.float64
        )
        beta = fit_to_blocks(fit, model)["beta"]
        scores = {}
        for name, clf in [("svc", SVC()), ("logreg", LogisticRegression(max_iter=2000))]:
            s = cross_val_score(
                make_pipeline(StandardScaler(), clf), beta, labels, groups=people, cv=GroupKFold(5)
            )
            scores[name] = float(s.mean())
        data[str(prior)] = scores
        lines.append(f"| {prior:g} | {100 * scores['svc']:.1f}% | {100 * scores['logreg']:.1f}% |")
    write_report(args.out, "expression_prior", "\n".join(lines), data)


if __name__ == "__main__":
    main()
