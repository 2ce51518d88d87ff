"""Time ``sk3dmm experiments --kdef`` on a KDEF-sized folder (4,900 photos) built from renders.

Run: ``python benchmarks/bench_kdef_size.py [--tree DIR] [--out results/kdef_size]``

KDEF itself cannot ship with sk3dmm and is not on this machine, so the run time a user with
KDEF would see is measured on a stand-in with KDEF's size and layout: 70 synthetic people
(35 F, 35 M), 7 expressions, 5 angles, 2 sessions (``A``/``B``, the same person), 4,900
JPEGs of 562 x 762 pixels (a 256-pixel render scaled to 512 and centred, as KDEF's faces sit
in its frames), in ``KDEF_and_AKDEF/KDEF/AF01/AF01AFS.JPG`` folders, with 3 files removed
as in a copy we measured. The command line is timed as a user runs it, in a subprocess, with
its own defaults (angles S, HL, HR: 2,940 photos). The accuracy figures it prints are on
renders, not on KDEF.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _report import write_report
from PIL import Image

from sk3dmm.datasets import make_synthetic_faces

KDEF_SIZE = (562, 762)  # width, height of a KDEF photo
REMOVED = ("AF01DIHL.JPG", "BM17SAS.JPG", "AM30NEHR.JPG")


def build_tree(root: Path, seed: int = 0) -> int:
    """Render the stand-in and write it in KDEF's layout; return the number of files written."""
    faces = make_synthetic_faces(70, image_size=256, repeats=2, random_state=seed, progress=True)
    written, seen = 0, set()
    for img, name in zip(faces.images, faces.frame["filename"]):
        if name in seen:  # the second repeat of an expression and angle is session B
            name = "B" + name[1:]
        seen.add(name)
        if name in REMOVED:
            continue
        canvas = Image.new("RGB", KDEF_SIZE, tuple(int(c) for c in img[0, 0]))
        face = Image.fromarray(img).resize((512, 512), Image.Resampling.BICUBIC)
        canvas.paste(face, ((KDEF_SIZE[0] - 512) // 2, (KDEF_SIZE[1] - 512) // 2))
        folder = root / "KDEF_and_AKDEF" / "KDEF" / name[:4]
        folder.mkdir(parents=True, exist_ok=True)
        canvas.save(folder / name, format="JPEG", quality=92)
        written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default="results/kdef_size_tree", help="where the stand-in is written")
    parser.add_argument("--out", default="results/kdef_size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tree = Path(args.tree)
    t0 = time.perf_counter()
    if not any(tree.rglob("*.JPG")):
        n = build_tree(tree, args.seed)
        print(f"wrote {n} JPEGs to {tree} in {time.perf_counter() - t0:.0f} s")
    n_files = sum(1 for _ in tree.rglob("*.JPG"))
    command = [sys.executable, "-m", "sk3dmm", "experiments", "--kdef", str(tree), "--out", args.out]
    print("$", " ".join(command), flush=True)
    t0 = time.perf_counter()
    subprocess.run(command, check=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    seconds = time.perf_counter() - t0
    table = Path(args.out, "kdef", "experiments.md")
    text = (
        f"# `sk3dmm experiments --kdef` on a KDEF-sized stand-in\n\n"
        f"{n_files} synthetic JPEGs of {KDEF_SIZE[0]} x {KDEF_SIZE[1]} px in KDEF's layout "
        f"(renders, not KDEF photos); default settings.\n"
        f"Wall time: {seconds / 60:.1f} min on {platform.machine()}, {os.cpu_count()} CPU cores.\n"
        f"Table: {table} (accuracies on renders).\n"
    )
    write_report(args.out, "kdef_size", text, {"files": n_files, "seconds": seconds})


if __name__ == "__main__":
    main()
