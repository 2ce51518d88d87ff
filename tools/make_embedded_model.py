"""Build the embedded ICT-FaceKit model shipped inside sk3dmm.

Reads ``ict_face_model.npz`` (ICT-FaceKit "Face Model Light", MIT) and keeps the regions
sk3dmm needs: the face, head and neck, the mouth socket (a dark cavity when the jaw opens)
and both eyeballs. Vertex indices are remapped, triangles outside the subset dropped, and
the file's SHA-256 written next to it so the loader can detect corruption.

Usage: ``python tools/make_embedded_model.py ../shared/ict-facekit``
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np

KEEP_REGIONS = ("face", "head_and_neck", "mouth_socket", "eyeball_left", "eyeball_right")
OUT_DIR = Path(__file__).resolve().parents[1] / "sk3dmm" / "morphable" / "data"


def main(src: str) -> None:
    src_dir = Path(src)
    d = np.load(src_dir / "ict_face_model.npz")
    names = [str(n) for n in d["region_names"]]
    ranges = d["region_ranges"]
    keep = np.concatenate([np.arange(*ranges[names.index(r)]) for r in KEEP_REGIONS])
    remap = -np.ones(len(d["neutral"]), dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    tri = remap[d["triangles"]]
    tri = tri[(tri >= 0).all(1)].astype(np.int32)
    region_ranges, start = [], 0
    for r in KEEP_REGIONS:
        a, b = ranges[names.index(r)]
        region_ranges.append((start, start + b - a))
        start += b - a

    def vertex_ids(key: str) -> np.ndarray:
        ids = remap[d[key]]
        assert (ids >= 0).all(), key
        return ids.astype(np.int32)

    out = OUT_DIR / "ict_face_light.npz"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        mean=d["neutral"][keep].astype(np.float32),
        identity=d["identity"][:, keep].astype(np.float32),
        expression=d["expression"][:, keep].astype(np.float32),
        expression_names=d["expression_names"],
        triangles=tri,
        landmarks_68=vertex_ids("landmarks_68"),
        jaw_right_extended=vertex_ids("jaw_right_extended"),
        jaw_left_extended=vertex_ids("jaw_left_extended"),
        rigid_landmark_idx=d["rigid_landmark_idx"].astype(np.int32),
        region_names=np.array(KEEP_REGIONS),
        region_ranges=np.array(region_ranges, dtype=np.int32),
    )
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    (OUT_DIR / "ict_face_light.sha256").write_text(f"{digest}  ict_face_light.npz\n")
    shutil.copy(src_dir / "LICENSE", OUT_DIR / "ICT-FaceKit-LICENSE")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(keep)} vertices, {len(tri)} triangles)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/ict-facekit")
