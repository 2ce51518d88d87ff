"""What label-free fine-tuning of R-Net (``Reconstruct3DMM(fine_tune=True)``) does.

Run: ``python benchmarks/bench_fine_tune.py [--n-identities 12] [--epochs 5]``

Synthetic people in a "camera" the embedded R-Net never saw (a warm colour cast, a brighter
tone curve and a slight blur), so there is a domain gap to close without labels: R-Net is
fine-tuned on the photos of some people (their coefficients unused) and tested on other
people in the same camera and on clean renders. Reported: identity and full shape RMSE (mm,
face area, after similarity alignment) and the landmark reprojection error of the pose fit.
Then the one real photo here, ``skimage.data.astronaut()``: its reprojection error before and
after fine-tuning on it and its mirror image. Writes ``results/fine_tune.{md,json}``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
import torch
from _report import write_report
from PIL import Image, ImageFilter
from skimage.data import astronaut

from sk3dmm import Reconstruct3DMM, load_ict_model
from sk3dmm.datasets import make_synthetic_faces
from sk3dmm.metrics import shape_rmse_mm


def new_camera(images: np.ndarray) -> np.ndarray:
    """Warm cast, brighter tone curve (gamma 0.75) and a slight blur."""
    x = (images.astype(np.float32) / 255.0) ** 0.75 * np.array([1.12, 1.0, 0.82], np.float32)
    x = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(1.0))) for im in x])


def errors(model, est, faces, images) -> dict:
    X = est.transform(images)
    ok = np.isfinite(X).all(1)
    a, b = X[ok, : model.n_identity], X[ok, model.n_identity : model.n_identity + model.n_expression]
    zeros = np.zeros_like(b)
    reproj = [r.reprojection_error for r in est.reconstructions_ if r is not None]
    return {
        "photos": int(ok.sum()),
        "identity_mm": float(shape_rmse_mm(model, a, zeros, faces.alpha[ok], zeros).mean()),
        "full_mm": float(shape_rmse_mm(model, a, b, faces.alpha[ok], faces.beta[ok]).mean()),
        "reprojection_px": float(np.mean(reproj)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-identities", type=int, default=12)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--out", default="results")
    args = p.parse_args()
    torch.set_num_threads(2)
    model = load_ict_model()
    kw = dict(image_size=224, angles=("HL", "S", "HR"), progress=False)
    tune_faces = make_synthetic_faces(args.n_identities, random_state=303, **kw)
    test_faces = make_synthetic_faces(args.n_identities, random_state=304, **kw)
    tune_images, test_shifted = new_camera(tune_faces.images), new_camera(test_faces.images)
    # dlib's 68 points, as when the README's figures were made
    settings = dict(
        method="rnet", coef=("alpha", "beta"), on_error="nan", precision="float64", detector="hog"
    )
    base = Reconstruct3DMM(**settings).fit()
    variants = {
        "fine-tuned, Deep3DFaceRecon's weights": None,
        "fine-tuned, landmarks x0.1": {"landmark": 1.6e-4},
        "fine-tuned, no landmark term": {"landmark": 0.0},
    }
    tuned, tune_s = {}, {}
    for name, weights in variants.items():
        t0 = time.perf_counter()
        tuned[name] = Reconstruct3DMM(
            **settings,
            fine_tune=True,
            fine_tune_epochs=args.epochs,
            fine_tune_lr=args.lr,
            fine_tune_weights=weights,
            random_state=0,
        ).fit(tune_images)
        tune_s[name] = time.perf_counter() - t0
    rows = []
    for name, est in {"embedded R-Net": base, **tuned}.items():
        for data, images in (
            ("new camera, other people", test_shifted),
            ("clean renders", test_faces.images),
        ):
            rows.append({"R-Net": name, "test photos": data, **errors(model, est, test_faces, images)})
    table = pd.DataFrame(rows).round(3)
    default = tuned["fine-tuned, Deep3DFaceRecon's weights"]

    photo = astronaut()
    pair = [photo, np.ascontiguousarray(photo[:, ::-1])]
    before = base.reconstruct([photo])[0].reprojection_error
    real = Reconstruct3DMM(
        **settings, fine_tune=True, fine_tune_epochs=20, fine_tune_lr=3e-4, random_state=0
    ).fit(pair)
    after = real.reconstruct([photo])[0].reprojection_error
    landmarks_only = (
        Reconstruct3DMM(coef="alpha", detector="hog").fit().reconstruct([photo])[0].reprojection_error
    )
    head = (
        f"{args.n_identities} people to fine-tune on ({len(tune_images)} renders, "
        f"{args.epochs} epochs, lr {args.lr}, {max(tune_s.values()):.0f} s or less each including detection), "
        f"{args.n_identities} other people to test; {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    lines = [
        "# R-Net fine-tuning without labels",
        "",
        head,
        "",
        table.to_markdown(index=False),
        "",
        f"Fine-tuning loss per epoch (Deep3DFaceRecon's weights): {[round(h['total'], 4) for h in default.fine_tune_history_]}",
        "",
        f"astronaut: landmark reprojection {before:.2f} px with the embedded R-Net, {after:.2f} px after "
        f"fine-tuning on it and its mirror image (20 epochs, lr 3e-4); landmark fitting alone {landmarks_only:.2f} px",
    ]
    write_report(
        args.out,
        "fine_tune",
        "\n".join(lines),
        {
            "setup": head,
            "rows": rows,
            "history": {k: v.fine_tune_history_ for k, v in tuned.items()},
            "astronaut_px": {"before": before, "after": after, "landmark_fit": landmarks_only},
        },
    )


if __name__ == "__main__":
    main()
