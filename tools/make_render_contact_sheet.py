"""Contact sheet: R-Net training crops, plain and photo-like, beside real photos cropped the same way.

Usage::

    python tools/make_render_contact_sheet.py --photos ../shared/realfaces/webmorph/canada:../shared/realfaces/webmorph/3dsk \\
        --real ../shared/realfaces/webmorph/canada --out docs/photo_like_renders.png

The photo bank (``--photos``) and the real crops (``--real``) come from the webmorph stimuli
(DeBruine & Jones, webmorphR.stim, CC BY 4.0); the sheet is a derived work under the same
licence (see docs/photo_like_renders.md). Switch probabilities are those of the shipped R-Net's
training log unless given.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sk3dmm import FaceNotFoundError
from sk3dmm.morphable import load_ict_model
from sk3dmm.nets import load_rnet
from sk3dmm.pipeline import CropFace, DetectFace, Photo
from sk3dmm.training import TrainConfig, render_training_crops

LOG = Path(__file__).resolve().parents[1] / "sk3dmm" / "nets" / "data" / "rnet_ict_training_log.json"


def grid(crops: np.ndarray, cols: int) -> np.ndarray:
    rows = len(crops) // cols
    h, w = crops.shape[1:3]
    return (
        crops[: rows * cols]
        .reshape(rows, cols, h, w, 3)
        .transpose(0, 2, 1, 3, 4)
        .reshape(rows * h, cols * w, 3)
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", required=True, help="photo-bank folders (os.pathsep-joined)")
    p.add_argument("--real", required=True, help="folder of real photos to crop beside the renders")
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="docs/photo_like_renders.png")
    args = p.parse_args()
    model = load_ict_model()
    shipped = json.loads(LOG.read_text())["config"]
    switches = {f.name: shipped.get(f.name, f.default) for f in fields(TrainConfig)}
    photo_like = TrainConfig(**{**switches, "photos": args.photos})
    plain = TrainConfig(**{k: v for k, v in switches.items() if k in ("render_size", "landmark_noise_px")})
    renders_plain, _, _ = render_training_crops(args.n, plain, args.seed, model, progress=False)
    renders_photo, _, _ = render_training_crops(args.n, photo_like, args.seed, model, progress=False)
    rnet = load_rnet(None, model)  # the shipped R-Net's crop: its template, size and framing
    detect = DetectFace("mediapipe", upsample=1, max_pixels=2_000_000, faces="largest")
    crop = CropFace(rnet.template5, rnet.input_size, rnet.rescale_factor, max_pixels=2_000_000)
    real = []
    for i, f in enumerate(sorted(Path(args.real).glob("*.jpg"))):
        photo = Photo.load(str(f), i, f.name)
        try:
            real.append(crop(photo, detect(photo)).pixels)
        except FaceNotFoundError:
            continue
        if len(real) == args.n:
            break
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.6))
    panels = (
        (renders_plain, "plain renders (first embedded R-Net)"),
        (renders_photo, "photo-like renders (shipped R-Net)"),
        (np.stack(real), "real photos, same crop (webmorph, CC BY 4.0)"),
    )
    for ax, (crops, title) in zip(axes, panels):
        ax.imshow(grid(crops, 6))
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out, dpi=80, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
