"""Which ICT-FaceKit vertex is each of MediaPipe's 468 mesh points? Found on renders.

Renders faces of the embedded ICT model with known geometry (random identities, neutral, happy
and surprised faces, yaw and pitch within +-15 degrees), runs sk3dmm's MediaPipe face mesh on
them, and for each of the 468 points picks the vertex of the face or head region whose projection is nearest
to the predicted point, in the median over the renders where the vertex faces the camera
(distances divided by the face's size). Depth ambiguities of a single view are resolved by the
spread of poses. Writes ``sk3dmm/morphable/data/ict_mediapipe468.npz``:

* ``vertex_ids`` (468,): the vertex of each mesh point;
* ``residual`` (468,): its median distance on the renders, as a fraction of the inter-ocular
  distance (how well the point agrees with one fixed vertex: small for eye corners, larger
  on the face oval, whose points slide with the silhouette);
* ``mesh_to_68`` (68,): the mesh point nearest to each of the ICT model's 68 landmark vertices;
* ``n_renders``, ``random_state``.

Usage: ``python tools/make_mediapipe_correspondence.py [--n-identities 40]``
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "sk3dmm" / "morphable" / "data" / "ict_mediapipe468.npz"


def main(argv: list[str] | None = None) -> None:
    from sk3dmm.datasets import make_synthetic_faces
    from sk3dmm.faces import MediaPipeFaceMesh
    from sk3dmm.fitting import project, transform
    from sk3dmm.morphable import load_ict_model
    from sk3dmm.render import vertex_normals

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-identities", type=int, default=40)
    parser.add_argument("--image-size", type=int, default=384)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)

    model = load_ict_model()
    faces = make_synthetic_faces(
        args.n_identities,
        image_size=args.image_size,
        expressions=("NE", "HA", "SU"),
        angles=("S",),
        angle_jitter=15.0,
        repeats=2,
        random_state=args.random_state,
        progress=True,
    )
    found = MediaPipeFaceMesh().detect(list(faces.images))
    ok = np.array([len(f) == 1 for f in found])
    print(f"faces found with one detection: {ok.sum()} of {len(ok)}")
    mesh = torch.tensor(np.stack([f[0].mesh[:, :2] for f, k in zip(found, ok) if k]), dtype=torch.float64)

    face_ids = torch.as_tensor(np.concatenate([model.regions["face"], model.regions["head_and_neck"]]))
    alpha = torch.tensor(faces.alpha[ok], dtype=torch.float64)
    beta = torch.tensor(faces.beta[ok], dtype=torch.float64)
    rot = torch.tensor(faces.rotation[ok], dtype=torch.float64)
    trans = torch.tensor(faces.translation[ok], dtype=torch.float64)
    verts = model.vertices(alpha, beta)
    cam = transform(verts, rot, trans)
    tri = model.tensors("cpu")["triangles"]
    normals = vertex_normals(cam, tri)
    facing = (normals * cam).sum(-1) < 0  # normal points towards the camera
    n = len(alpha)
    proj = project(cam, torch.tensor(faces.focal[ok]), torch.tensor(faces.center[ok]))
    proj, facing = proj[:, face_ids], facing[:, face_ids]
    lm68 = project(
        transform(model.landmarks(alpha, beta), rot, trans),
        torch.tensor(faces.focal[ok]),
        torch.tensor(faces.center[ok]),
    )
    iod = (lm68[:, 36:42].mean(1) - lm68[:, 42:48].mean(1)).norm(dim=-1)  # (n,)

    best_ids, residual = [], []
    for start in range(0, 468, 12):
        pts = mesh[:, start : start + 12]  # (n, p, 2)
        dist = (pts[:, :, None] - proj[:, None]).norm(dim=-1) / iod[:, None, None]  # (n, p, v)
        dist = torch.where(facing[:, None], dist, torch.full_like(dist, torch.inf))
        med = dist.median(dim=0).values  # (p, v)
        # vertices visible in fewer than half of the renders are not candidates
        med = torch.where(facing.float().mean(0)[None] >= 0.5, med, torch.full_like(med, torch.inf))
        val, idx = med.min(-1)
        best_ids.append(face_ids[idx])
        residual.append(val)
    vertex_ids = torch.cat(best_ids).numpy().astype(np.int32)
    residual = torch.cat(residual).numpy().astype(np.float32)

    mean = model.vertices(
        torch.zeros(1, model.n_identity, dtype=torch.float64),
        torch.zeros(1, model.n_expression, dtype=torch.float64),
    )[0]
    d68 = (mean[np.asarray(model.landmark_indices)][:, None] - mean[vertex_ids][None]).norm(dim=-1)
    mesh_to_68 = d68.argmin(1).numpy().astype(np.int32)

    np.savez_compressed(
        args.out,
        vertex_ids=vertex_ids,
        residual=residual,
        mesh_to_68=mesh_to_68,
        n_renders=n,
        random_state=args.random_state,
    )
    Path(args.out).with_suffix(".sha256").write_text(
        hashlib.sha256(Path(args.out).read_bytes()).hexdigest() + "\n"
    )
    print(
        f"{n} renders; residual median {np.median(residual):.3f}, 90th pct {np.quantile(residual, 0.9):.3f} "
        f"inter-ocular distances; wrote {args.out}"
    )
    print("mesh_to_68 =", mesh_to_68.tolist())


if __name__ == "__main__":
    main()
