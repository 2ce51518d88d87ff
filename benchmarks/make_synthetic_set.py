"""Render the default synthetic KDEF-like set, time it, and draw a contact sheet.

Run: ``python benchmarks/make_synthetic_set.py [--n-identities 70] [--size 256] [--kdef-dir DIR]``

Writes ``results/synthetic_contact_sheet.png`` (one person, all emotions and angles, plus one
frontal photo of the first 20 people) and, with ``--kdef-dir``, the images in KDEF's layout.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sk3dmm.datasets import make_synthetic_faces, write_kdef_folder
from sk3dmm.plotting import plot_contact_sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-identities", type=int, default=70)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kdef-dir", default=None)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    faces = make_synthetic_faces(
        args.n_identities, image_size=args.size, random_state=args.seed, progress=True
    )
    total = time.perf_counter() - t0
    n = len(faces.frame)
    print(
        f"rendered {n} images of {args.size} px in {total:.1f} s ({faces.render_seconds / n * 1000:.1f} ms/image rendering) on {platform.machine()}, {args.threads} threads"
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    one = np.flatnonzero((faces.frame["identity"] == faces.frame["identity"][0]).to_numpy())
    frontal = np.flatnonzero((faces.frame["angle"] == "S") & (faces.frame["expression"] == "happy"))[:20]
    idx = np.r_[one, frontal]
    titles = [f"{r.identity} {r.expression_code} {r.angle}" for r in faces.frame.iloc[idx].itertuples()]
    fig = plot_contact_sheet(
        faces.images[idx],
        titles,
        ncols=5 if len(one) <= 35 else 10,
        suptitle="sk3dmm synthetic KDEF-like set",
    )
    fig.savefig(out / "synthetic_contact_sheet.png", dpi=90)
    print(f"wrote {out / 'synthetic_contact_sheet.png'}")
    if args.kdef_dir:
        paths = write_kdef_folder(faces, args.kdef_dir)
        print(f"wrote {len(paths)} JPEGs to {args.kdef_dir} in KDEF's layout")


if __name__ == "__main__":
    main()
