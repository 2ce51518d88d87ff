"""The paper's experiments: identity, expression and gender from 3DMM coefficients vs pixels.

``run_experiments`` reconstructs coefficients for a face set (the synthetic KDEF-like set by
default; real KDEF / FEI folders when given), then for each task cross-validates classifiers
on coefficients (CoefResNetClassifier, SVC, k-NN, logistic regression) and the pixel baseline
(ImageResNetClassifier), and clusters identity coefficients with k-means (adjusted Rand
index). Expression and gender use subject-disjoint folds (GroupKFold by identity), so neither
can be learnt from who the person is; identity uses stratified folds over photos, and the
paper's single random split is reported next to them.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GroupKFold, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm.auto import tqdm

from .classifiers import CoefResNetClassifier, ImageResNetClassifier

logger = logging.getLogger(__name__)


@dataclass
class FaceSet:
    """Images (arrays or paths), their metadata and their coefficients."""

    images: list
    frame: pd.DataFrame
    alpha: np.ndarray
    beta: np.ndarray
    description: str
    extra: dict = field(default_factory=dict)


@dataclass
class Task:
    name: str
    target: str
    coef: str  # "alpha" or "beta"
    grouped: bool  # subject-disjoint folds
    max_people: int | None = None


TASKS = (
    Task("identity", "identity", "alpha", grouped=False, max_people=10),
    Task("expression", "expression", "beta", grouped=True),
    Task("gender", "gender", "alpha", grouped=True),
)


def coefficient_models(random_state: int, epochs: int) -> dict:
    """The classifiers compared on coefficients."""
    return {
        "CoefResNet-34": CoefResNetClassifier(
            max_epochs=epochs, random_state=random_state, optimizer__weight_decay=1e-3
        ),
        "SVC (RBF)": make_pipeline(StandardScaler(), SVC(C=10.0)),
        "k-NN (k=5)": make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
        "logistic regression": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
    }


def reconstruct(
    images, frame: pd.DataFrame, description: str, n_jobs=None, progress=True, method="rnet"
) -> FaceSet:
    """Coefficients of every photo (``method`` of Reconstruct3DMM); photos without a detected
    face are dropped (the count is kept in ``extra``)."""
    from .transformers import Reconstruct3DMM

    est = Reconstruct3DMM(
        method=method, coef=("alpha", "beta"), on_error="nan", n_jobs=n_jobs, progress=progress
    )
    coefs = est.fit_transform(images)
    ok = np.isfinite(coefs).all(1)
    kept = [img for img, k in zip(images, ok) if k]
    detected = frame.assign(detected=ok)
    rate = (
        detected.groupby("angle")["detected"].mean().to_dict()
        if "angle" in frame
        else {"all": float(ok.mean())}
    )
    n_id = est.model_.n_identity
    return FaceSet(
        images=kept,
        frame=frame[ok].reset_index(drop=True),
        alpha=coefs[ok, :n_id],
        beta=coefs[ok, n_id:],
        description=f"{description}; coefficients by {method}",
        extra={
            "photos": len(frame),
            "reconstructed": int(ok.sum()),
            "detection_rate": rate,
            "method": method,
        },
    )


def _folds(task: Task, y, groups, n_splits: int, seed: int):
    if task.grouped:
        return list(GroupKFold(n_splits).split(y, y, groups))
    return list(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(y, y))


def _fit_score(model, X_train, y_train, X_test, y_test):
    t0 = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - t0
    pred = model.predict(X_test)
    return float(np.mean(pred == y_test)), seconds, pred


def run_task(
    data: FaceSet,
    task: Task,
    n_splits: int,
    epochs: int,
    image_size: int,
    image_width: int,
    seed: int,
    progress: bool,
) -> tuple[list[dict], dict]:
    """Cross-validate every model on one task; returns result rows and extras (predictions, timing)."""
    frame = data.frame
    keep = np.ones(len(frame), bool)
    if task.max_people is not None:
        people = sorted(frame["identity"].unique())[: task.max_people]
        keep = frame["identity"].isin(people).to_numpy()
    if frame[task.target].isna().any():
        raise ValueError(f"task {task.name}: some photos have no {task.target} label")
    y = frame[task.target].to_numpy()[keep]
    groups = frame["identity"].to_numpy()[keep]
    X = getattr(data, task.coef)[keep]
    images = [img for img, k in zip(data.images, keep) if k]
    models = coefficient_models(seed, epochs)
    image_model = ImageResNetClassifier(
        image_size=image_size, max_epochs=epochs, random_state=seed, module__width=image_width, batch_size=16
    )
    rows, extras = [], {"confusion": None, "seconds_per_sample_epoch": {}}
    paper_split = train_test_split(np.arange(len(y)), test_size=0.4, stratify=y, random_state=seed)
    schemes = {
        "paper split (60/40)": [tuple(paper_split)],
        f"{'grouped' if task.grouped else 'stratified'} {n_splits}-fold": _folds(
            task, y, groups, n_splits, seed
        ),
    }
    jobs = [(scheme, name) for scheme in schemes for name in [*models, "ImageResNet-34 (pixels)"]]
    bar = tqdm(
        total=sum(len(f) for f in schemes.values()) * (len(models) + 1), desc=task.name, disable=not progress
    )
    for scheme, name in jobs:
        scores, all_true, all_pred = [], [], []
        for tr, te in schemes[scheme]:
            if name.startswith("ImageResNet"):
                model = clone(image_model)
                acc, sec, pred = _fit_score(
                    model, [images[i] for i in tr], y[tr], [images[i] for i in te], y[te]
                )
                per = sec / (len(tr) * len(model.history))
            else:
                model = clone(models[name])
                acc, sec, pred = _fit_score(model, X[tr], y[tr], X[te], y[te])
                per = sec / (len(tr) * len(model.history)) if hasattr(model, "history") else None
            scores.append(acc)
            all_true.append(y[te])
            all_pred.append(pred)
            if per is not None:
                extras["seconds_per_sample_epoch"].setdefault(name, []).append(per)
            bar.update()
        input_name = "pixels" if name.startswith("ImageResNet") else task.coef
        rows.append(
            {
                "task": task.name,
                "input": input_name,
                "model": name,
                "scheme": scheme,
                "accuracy": np.mean(scores),
                "std": np.std(scores),
                "folds": len(scores),
                "samples": len(y),
                "classes": len(set(y)),
            }
        )
        if name == "CoefResNet-34" and scheme != "paper split (60/40)":
            extras["confusion"] = (np.concatenate(all_true), np.concatenate(all_pred))
    bar.close()
    return rows, extras


def kmeans_identity(data: FaceSet, seed: int) -> dict:
    """k-means on standardised alpha with k = number of people, scored by adjusted Rand index."""
    X = StandardScaler().fit_transform(data.alpha)
    y = data.frame["identity"].to_numpy()
    k = len(set(y))
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(X)
    return {"k": k, "adjusted_rand_index": float(adjusted_rand_score(y, labels))}


def synthetic_faceset(
    n_identities: int, image_size: int, angles, seed: int, progress: bool, n_jobs=None, method: str = "rnet"
) -> FaceSet:
    from .datasets import make_synthetic_faces

    faces = make_synthetic_faces(
        n_identities,
        image_size=image_size,
        angles=angles,
        gender_shift=1.0,
        random_state=seed,
        progress=progress,
    )
    desc = f"synthetic KDEF-like set: {n_identities} people x 7 expressions x angles {','.join(angles)}, {image_size} px, seed {seed} (gender shift 1.0)"
    return reconstruct(list(faces.images), faces.frame, desc, n_jobs=n_jobs, progress=progress, method=method)


def kdef_faceset(root, angles, n_jobs=None, progress=True, method="rnet") -> FaceSet:
    from .datasets import load_kdef

    kdef = load_kdef(root, angles=angles)
    frame = kdef.frame.copy()
    return reconstruct(
        list(kdef.filenames), frame, f"KDEF folder {root}, angles {','.join(angles)}", n_jobs, progress
    )


def fei_faceset(root, gender, n_jobs=None, progress=True, method="rnet") -> FaceSet:
    from .datasets import load_fei

    fei = load_fei(root, target="gender", gender=gender)
    return reconstruct(list(fei.filenames), fei.frame.copy(), f"FEI folder {root}", n_jobs, progress, method)


def run_experiments(
    data: FaceSet,
    tasks=TASKS,
    n_splits: int = 5,
    epochs: int = 30,
    image_size: int = 64,
    image_width: int = 16,
    seed: int = 0,
    out_dir: str | Path = "results",
    progress: bool = True,
) -> pd.DataFrame:
    """Run the tasks, print and write the results (Markdown, CSV, JSON, confusion matrix PNG)."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, timing, confusion = [], {}, None
    for task in tasks:
        if task.target not in data.frame or data.frame[task.target].isna().all():
            continue
        r, extras = run_task(data, task, n_splits, epochs, image_size, image_width, seed, progress)
        rows += r
        for name, per in extras["seconds_per_sample_epoch"].items():
            timing.setdefault(name, []).extend(per)
        if task.name == "expression":
            confusion = extras["confusion"]
    results = pd.DataFrame(rows)
    km = kmeans_identity(data, seed)
    t_img = np.mean(timing.get("ImageResNet-34 (pixels)", [np.nan]))
    t_coef = np.mean(timing.get("CoefResNet-34", [np.nan]))
    hardware = f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    summary = {
        "data": data.description,
        "photos": data.extra,
        "hardware": hardware,
        "settings": {
            "folds": n_splits,
            "epochs": epochs,
            "image_size": image_size,
            "image_resnet_width": image_width,
            "seed": seed,
        },
        "kmeans_on_alpha": km,
        "train_seconds_per_sample_per_epoch": {
            "pixels (ImageResNet-34)": t_img,
            "coefficients (CoefResNet-34)": t_coef,
            "ratio": t_img / t_coef,
        },
    }
    md = [
        "# sk3dmm experiments",
        "",
        f"Data: {data.description}; {data.extra['reconstructed']} of {data.extra['photos']} photos reconstructed.",
        f"Hardware: {hardware}.",
        "",
        _markdown(results),
        "",
        f"k-means on alpha (k = {km['k']} people): adjusted Rand index {km['adjusted_rand_index']:.3f}.",
        f"Training time per sample per epoch: pixels {t_img * 1e3:.2f} ms, coefficients {t_coef * 1e3:.3f} ms (ratio {t_img / t_coef:.0f}x).",
    ]
    text = "\n".join(md)
    (out / "experiments.md").write_text(text + "\n")
    results.to_csv(out / "experiments.csv", index=False)
    (out / "experiments.json").write_text(
        json.dumps({"summary": summary, "results": results.to_dict("records")}, indent=2, default=float)
    )
    if confusion is not None:
        from .plotting import plot_confusion_matrix

        fig = plot_confusion_matrix(
            *confusion, title="expression from beta, CoefResNet-34, subject-disjoint folds"
        )
        fig.savefig(out / "confusion_expression.png", dpi=110)
    logger.info("%s", text)
    return results


def _markdown(results: pd.DataFrame) -> str:
    lines = ["| task | input | model | scheme | accuracy | ± std |", "|---|---|---|---|---|---|"]
    for r in results.itertuples():
        lines.append(
            f"| {r.task} | {r.input} | {r.model} | {r.scheme} | {r.accuracy * 100:.1f}% | {r.std * 100:.1f} |"
        )
    return "\n".join(lines)


@dataclass
class PhotoPool:
    """Reconstructed photos of a synthetic set, ready to be grouped into image sets."""

    faces: object  # the make_synthetic_faces Bunch
    degradation: np.ndarray
    rows: np.ndarray  # (n, d) coefficients, NaN where reconstruction failed
    reconstructions: list
    feature_names: np.ndarray
    ok: np.ndarray

    def image_set(self, indices):
        from .transformers import ImageSet

        idx = list(indices)
        return ImageSet(self.rows[idx], self.feature_names, [self.reconstructions[i] for i in idx])


def synthetic_photo_pool(
    n_identities: int,
    seed: int,
    method: str = "rnet",
    degrade_fraction: float = 0.3,
    repeats: int = 3,
    progress=True,
) -> PhotoPool:
    """Render people (angles HL, S, HR; ``repeats`` photos per expression and angle), occlude or
    blur ``degrade_fraction`` of the photos, and reconstruct every photo once."""
    from .datasets import degrade_photos, make_synthetic_faces
    from .transformers import Reconstruct3DMM

    faces = make_synthetic_faces(
        n_identities,
        image_size=224,
        angles=("HL", "S", "HR"),
        repeats=repeats,
        random_state=seed,
        progress=progress,
    )
    images, deg = degrade_photos(faces.images, degrade_fraction, random_state=seed)
    est = Reconstruct3DMM(method=method, coef=("alpha", "beta"), on_error="nan", progress=progress)
    rows = est.fit_transform(images)
    return PhotoPool(
        faces,
        deg["degradation"].to_numpy(),
        rows,
        est.reconstructions_,
        est.feature_names_out_,
        np.isfinite(rows).all(1),
    )
