"""The paper's experiments: identity, expression and gender from 3DMM coefficients vs pixels.

``run_experiments`` takes a reconstructed face set (the synthetic KDEF-like set by default;
real KDEF / FEI folders when given) and, for each task, scores classifiers on coefficients
(CoefResNetClassifier's residual MLP, the paper's 1-D ResNet-34, SVC, k-NN, logistic
regression) and two baselines on the photos themselves (ImageResNetClassifier on pixels, and HOG
of the aligned face crop + SVC, the classical one a user would pick) on:

* the paper's protocol, named as such (:mod:`sk3dmm.paper_protocols`): identity on sets of 3
  photos aggregated by C-Net, the mean or k-means (and on single photos); expression on the
  2975 / 1925 split that shares people between the sides, next to the same split with people
  disjoint; gender on 50 + 50 / 50 + 50 people. A protocol the data cannot give is reported
  as not run, with the reason;
* cross-validation: subject-disjoint folds (GroupKFold) for expression and gender, stratified
  folds for identity.

Coefficients are computed once per photo (Reconstruct3DMM's cache) and reused by every task.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm.auto import tqdm

from .classifiers import CoefResNetClassifier, ImageResNetClassifier, _SklearnNet
from .nets import CoefResNet
from .paper_protocols import (
    ProtocolError,
    expression_split,
    gender_split,
    identity_sets,
    scaled_identity_sets,
)

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


COEF_MODEL = "CoefResNet (residual MLP)"
PAPER_MODEL = "CoefResNet-34 (paper, 1-D conv)"
PIXEL_MODEL = "ImageResNet-34 (pixels)"
HOG_MODEL = "HOG + SVC (aligned crop)"


def coefficient_models(random_state: int, epochs: int, paper_resnet: bool = True) -> dict:
    """The classifiers compared on coefficients: sk3dmm's default, the paper's 1-D ResNet-34
    (``epochs`` epochs, as the pixel baseline), and scikit-learn's."""
    models = {COEF_MODEL: CoefResNetClassifier(random_state=random_state)}
    if paper_resnet:
        models[PAPER_MODEL] = CoefResNetClassifier(
            module=CoefResNet,
            max_epochs=epochs,
            random_state=random_state,
            optimizer__weight_decay=1e-3,
            early_stopping=False,
            label_smoothing=0.0,
            lr_schedule=None,
        )
    return models | {
        "SVC (RBF)": make_pipeline(StandardScaler(), SVC(C=10.0)),
        "k-NN (k=5)": make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
        "logistic regression": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
    }


def reconstruct(
    images,
    frame: pd.DataFrame,
    description: str,
    n_jobs=None,
    progress=True,
    method="blendshapes_prior",
    detector="cascade",
) -> FaceSet:
    """Coefficients of every photo (``method`` of Reconstruct3DMM); photos without a detected
    face are dropped (the count is kept in ``extra``)."""
    from .transformers import Reconstruct3DMM

    est = Reconstruct3DMM(
        method=method,
        detector=detector,
        coef=("alpha", "beta"),
        keep_crops=True,  # the HOG baseline and C-Net read them
        on_error="nan",
        n_jobs=n_jobs,
        progress=progress,
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
    recons = [r for r, k in zip(est.reconstructions_, ok) if k]
    return FaceSet(
        images=kept,
        frame=frame[ok].reset_index(drop=True),
        alpha=coefs[ok, :n_id],
        beta=coefs[ok, n_id:],
        description=f"{description}; coefficients by {method} ({detector} detector)",
        extra={
            "photos": len(frame),
            "reconstructed": int(ok.sum()),
            "detection_rate": rate,
            "found_by": dict(Counter(r.found_by for r in recons if r.found_by)),
            "method": method,
            "reconstructions": recons,
            "feature_names": est.feature_names_out_,
        },
    )


def _folds(task: Task, y, groups, n_splits: int, seed: int):
    if task.grouped:
        return list(GroupKFold(n_splits).split(y, y, groups))
    return list(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(y, y))


def _fit_score(model, X_train, y_train, X_test, y_test, groups=None):
    """Fit and score; ``groups`` (training side) reach sk3dmm's classifiers, whose early
    stopping then holds out whole people."""
    t0 = time.perf_counter()
    if groups is not None and isinstance(model, _SklearnNet):
        model.fit(X_train, y_train, groups=groups)
    else:
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - t0
    pred = model.predict(X_test)
    return float(np.mean(pred == y_test)), seconds, pred


def _protocol_schemes(task: Task, frame: pd.DataFrame, y, groups, seed: int) -> tuple[dict, list[str]]:
    """The paper's split(s) for a task, named, and notes on what could not run."""
    schemes, notes = {}, []
    try:
        if task.name == "expression":
            schemes["paper: 2975/1925 split (people shared)"] = [expression_split(y, random_state=seed)]
            schemes["same split, people disjoint"] = [expression_split(y, groups, random_state=seed)]
        elif task.name == "identity":
            try:
                train, valid = identity_sets(frame, random_state=seed)
                name = "paper: 20/15 photos per person, single photos"
            except ProtocolError as exc:
                notes.append(f"identity, paper's protocol not run: {exc}")
                (train, valid), (a, b) = scaled_identity_sets(frame, random_state=seed)
                name = f"paper's 20:15 scaled to {a}/{b} photos per person, single photos"
            schemes[name] = [
                tuple(np.unique(np.concatenate([idx for _, idx in side])) for side in (train, valid))
            ]
        elif task.name == "gender":
            schemes["paper: 50+50 / 50+50 people"] = [gender_split(frame, random_state=seed)]
    except ProtocolError as exc:
        notes.append(f"{task.name}, paper's protocol not run: {exc}")
    return schemes, notes


def run_task(
    data: FaceSet,
    task: Task,
    n_splits: int,
    epochs: int,
    image_size: int,
    image_width: int,
    seed: int,
    progress: bool,
    paper_resnet: bool = True,
    pixel_baseline: bool = True,
) -> tuple[list[dict], dict]:
    """Score every model on one task under the paper's split and cross-validation; returns
    result rows and extras (confusion, timing, notes). ``pixel_baseline=False`` leaves the
    pixel ResNet out (coefficient classifiers only)."""
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
    hog = hog_rows(data)[keep] if pixel_baseline else None
    models = coefficient_models(seed, epochs, paper_resnet)
    image_model = ImageResNetClassifier(
        image_size=image_size, max_epochs=epochs, random_state=seed, module__width=image_width, batch_size=16
    )
    rows, extras = [], {"confusion": None, "seconds_per_sample_epoch": {}}
    schemes, extras["notes"] = _protocol_schemes(task, frame[keep].reset_index(drop=True), y, groups, seed)
    cv_name = f"{'grouped' if task.grouped else 'stratified'} {n_splits}-fold"
    schemes[cv_name] = _folds(task, y, groups, n_splits, seed)
    names = [*models, PIXEL_MODEL, HOG_MODEL] if pixel_baseline else list(models)
    jobs = [(scheme, name) for scheme in schemes for name in names]
    bar = tqdm(total=sum(len(f) for f in schemes.values()) * len(names), desc=task.name, disable=not progress)
    for scheme, name in jobs:
        scores, all_true, all_pred = [], [], []
        for tr, te in schemes[scheme]:
            # people-disjoint test folds: the classifiers' early stopping holds out people too
            disjoint = task.grouped and not np.isin(groups[tr], groups[te]).any()
            fit_groups = groups[tr] if disjoint else None
            if name == PIXEL_MODEL:
                model = clone(image_model)
                acc, sec, pred = _fit_score(
                    model, [images[i] for i in tr], y[tr], [images[i] for i in te], y[te], fit_groups
                )
            elif name == HOG_MODEL:
                model = make_pipeline(StandardScaler(), SVC())
                acc, sec, pred = _fit_score(model, hog[tr], y[tr], hog[te], y[te])
            else:
                model = clone(models[name])
                acc, sec, pred = _fit_score(model, X[tr], y[tr], X[te], y[te], fit_groups)
            per = sec / (len(tr) * len(model.history)) if hasattr(model, "history") else None
            scores.append(acc)
            all_true.append(y[te])
            all_pred.append(pred)
            if per is not None:
                extras["seconds_per_sample_epoch"].setdefault(name, []).append(per)
            bar.update()
        rows.append(
            {
                "task": task.name,
                "input": {PIXEL_MODEL: "pixels", HOG_MODEL: "HOG"}.get(name, task.coef),
                "model": name,
                "scheme": scheme,
                "accuracy": np.mean(scores),
                "std": np.std(scores),
                "folds": len(scores),
                "samples": len(y),
                "classes": len(set(y)),
            }
        )
        if name == COEF_MODEL and scheme == cv_name:
            extras["confusion"] = (np.concatenate(all_true), np.concatenate(all_pred))
    bar.close()
    return rows, extras


def hog_rows(data: FaceSet) -> np.ndarray:
    """HOG of every photo's aligned face crop (R-Net's 224-pixel 5-point crop; the photos
    themselves, resized to 64 px, for a face set made without reconstructions), computed once
    per face set."""
    if "hog" not in data.extra:
        from .faces import load_image
        from .transformers import HOGFeatures

        if "reconstructions" in data.extra:
            hog = HOGFeatures().fit_transform([r.crop for r in data.extra["reconstructions"]])
        else:
            images = [load_image(i) if isinstance(i, (str, Path)) else i for i in data.images]
            hog = HOGFeatures(size=64).fit_transform(images)
        data.extra["hog"] = hog
    return data.extra["hog"]


def run_identity_sets(data: FaceSet, seed: int, progress: bool = True) -> tuple[list[dict], list[str]]:
    """The paper's identity protocol on sets of 3 photos: every set aggregated by C-Net (the
    embedded, label-free one), the mean and per-set k-means; classifiers on the aggregates."""
    from .transformers import ImageSet, SetAggregator

    people = sorted(data.frame["identity"].unique())[:10]
    keep = np.flatnonzero(data.frame["identity"].isin(people).to_numpy())
    frame = data.frame.iloc[keep].reset_index(drop=True)
    notes = []
    try:
        train, valid = identity_sets(frame, random_state=seed)
        scheme = "paper: sets of 3 from 20/15 photos per person (1140/455 sets each)"
    except ProtocolError as exc:
        notes.append(f"identity sets, paper's protocol not run: {exc}")
        try:
            (train, valid), (a, b) = scaled_identity_sets(frame, random_state=seed)
        except ProtocolError as exc2:
            return [], [*notes, f"identity sets not run: {exc2}"]
        scheme = f"paper's 20:15 scaled: sets of 3 from {a}/{b} photos per person"
    coefs = np.concatenate([data.alpha, data.beta], 1)[keep]
    recons = [data.extra["reconstructions"][i] for i in keep] if "reconstructions" in data.extra else None
    names = data.extra.get("feature_names")
    n_id = data.alpha.shape[1]

    def as_sets(sets):
        if recons is None or names is None:  # plain coefficient arrays: C-Net is left out
            return [coefs[list(idx)] for _, idx in sets]
        return [ImageSet(coefs[list(idx)], names, [recons[i] for i in idx]) for _, idx in sets]

    y_train = np.array([p for p, _ in train])
    y_valid = np.array([p for p, _ in valid])
    rows = []
    aggregators = {
        "C-Net": SetAggregator("cnet", train_cnet=False),
        "mean": SetAggregator("mean"),
        "k-means": SetAggregator("kmeans", random_state=seed),
    }
    if recons is None:
        del aggregators["C-Net"]
    train_sets, valid_sets = as_sets(train), as_sets(valid)
    bar = tqdm(total=len(aggregators) * 4, desc="identity sets", disable=not progress)
    for agg_name, agg in aggregators.items():
        try:
            Xtr = agg.fit_transform(train_sets)[:, :n_id]
            Xva = agg.transform(valid_sets)[:, :n_id]
        except ValueError as exc:  # e.g. a C-Net that does not fit these coefficients
            notes.append(f"identity sets, {agg_name} aggregation not run: {exc}")
            bar.update(4)
            continue
        for name, model in coefficient_models(seed, 1, paper_resnet=False).items():
            acc, _, _ = _fit_score(clone(model), Xtr, y_train, Xva, y_valid)
            rows.append(
                {
                    "task": "identity",
                    "input": f"alpha, sets of 3 ({agg_name})",
                    "model": name,
                    "scheme": scheme,
                    "accuracy": acc,
                    "std": 0.0,
                    "folds": 1,
                    "samples": len(train) + len(valid),
                    "classes": len(people),
                }
            )
            bar.update()
    bar.close()
    return rows, notes


def kmeans_identity(data: FaceSet, seed: int) -> dict:
    """k-means on standardised alpha with k = number of people, scored by adjusted Rand index."""
    X = StandardScaler().fit_transform(data.alpha)
    y = data.frame["identity"].to_numpy()
    k = len(set(y))
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(X)
    return {"k": k, "adjusted_rand_index": float(adjusted_rand_score(y, labels))}


def _detection_summary(extra: dict) -> str:
    """``" (by angle: FL 100%, ...; found by blazeface 210, retinaface 140)"`` or ``""``."""
    parts = []
    rate = extra.get("detection_rate", {})
    if rate and "all" not in rate:
        parts.append("by angle: " + ", ".join(f"{a} {100 * v:.0f}%" for a, v in rate.items()))
    if extra.get("found_by"):
        parts.append("found by " + ", ".join(f"{k} {v}" for k, v in sorted(extra["found_by"].items())))
    return f" ({'; '.join(parts)})" if parts else ""


def synthetic_faceset(
    n_identities: int,
    image_size: int,
    angles,
    seed: int,
    progress: bool,
    n_jobs=None,
    method: str = "blendshapes_prior",
    detector: str = "cascade",
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
    return reconstruct(
        list(faces.images),
        faces.frame,
        desc,
        n_jobs=n_jobs,
        progress=progress,
        method=method,
        detector=detector,
    )


def kdef_faceset(
    root, angles, n_jobs=None, progress=True, method="blendshapes_prior", detector="cascade"
) -> FaceSet:
    from .datasets import load_kdef

    kdef = load_kdef(root, angles=angles)
    frame = kdef.frame.copy()
    return reconstruct(
        list(kdef.filenames),
        frame,
        f"KDEF folder {root}, angles {','.join(angles)}",
        n_jobs,
        progress,
        method,
        detector,
    )


def fei_faceset(
    root, gender, n_jobs=None, progress=True, method="blendshapes_prior", detector="cascade"
) -> FaceSet:
    from .datasets import load_fei

    fei = load_fei(root, target="gender", gender=gender)
    return reconstruct(
        list(fei.filenames), fei.frame.copy(), f"FEI folder {root}", n_jobs, progress, method, detector
    )


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
    paper_resnet: bool = True,
    set_protocol: bool = True,
) -> pd.DataFrame:
    """Run the tasks, print and write the results (Markdown, CSV, JSON, confusion matrix PNG).

    ``paper_resnet`` adds the paper's 1-D ResNet-34 on coefficients to every comparison;
    ``set_protocol`` runs the paper's identity protocol on sets of 3 photos.
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, timing, confusion, notes = [], {}, None, []
    for task in tasks:
        if task.target not in data.frame or data.frame[task.target].isna().all():
            notes.append(f"{task.name}: no {task.target} labels in this data, not run")
            continue
        r, extras = run_task(
            data, task, n_splits, epochs, image_size, image_width, seed, progress, paper_resnet
        )
        rows += r
        notes += extras["notes"]
        for name, per in extras["seconds_per_sample_epoch"].items():
            timing.setdefault(name, []).extend(per)
        if task.name == "expression":
            confusion = extras["confusion"]
        if task.name == "identity" and set_protocol:
            set_rows, set_notes = run_identity_sets(data, seed, progress)
            rows += set_rows
            notes += set_notes
    results = pd.DataFrame(rows)
    km = kmeans_identity(data, seed)
    t_img = np.mean(timing.get(PIXEL_MODEL, [np.nan]))
    t_coef = np.mean(timing.get(COEF_MODEL, [np.nan]))
    t_paper = np.mean(timing.get(PAPER_MODEL, [np.nan]))
    hardware = f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    minutes = (time.perf_counter() - t_start) / 60
    summary = {
        "data": data.description,
        "photos": {k: v for k, v in data.extra.items() if k not in ("reconstructions", "feature_names", "hog")},
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
            "coefficients (residual MLP)": t_coef,
            "coefficients (paper's 1-D ResNet-34)": t_paper,
            "ratio pixels / residual MLP": t_img / t_coef,
        },
        "classification_minutes": minutes,
        "notes": notes,
    }
    md = [
        "# sk3dmm experiments",
        "",
        f"Data: {data.description}; {data.extra['reconstructed']} of {data.extra['photos']} photos reconstructed"
        f"{_detection_summary(data.extra)}.",
        f"Hardware: {hardware}. Classification took {minutes:.1f} min.",
        "",
        _markdown(results),
        "",
        *[f"- {n}" for n in notes],
        "",
        f"k-means on alpha (k = {km['k']} people): adjusted Rand index {km['adjusted_rand_index']:.3f}.",
        f"Training time per sample per epoch: pixels {t_img * 1e3:.3f} ms, residual MLP {t_coef * 1e3:.4f} ms "
        f"(pixels / MLP: {t_img / t_coef:.0f}x), paper's 1-D ResNet-34 {t_paper * 1e3:.3f} ms.",
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
            *confusion, title="expression from beta, residual MLP, subject-disjoint folds"
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
    detector: str = "mediapipe",
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
    est = Reconstruct3DMM(
        method=method,
        detector=detector,
        coef=("alpha", "beta"),
        keep_crops=True,  # C-Net reads them
        on_error="nan",
        progress=progress,
    )
    rows = est.fit_transform(images)
    return PhotoPool(
        faces,
        deg["degradation"].to_numpy(),
        rows,
        est.reconstructions_,
        est.feature_names_out_,
        np.isfinite(rows).all(1),
    )
