"""Writing results out: the fitted mesh of a reconstructed photo, as OBJ or PLY files.

The mesh comes in two frames:

* **model**: the morphable model's own space (+y up, the face looking along +z), in
  millimetres (the model's units times ``MorphableModel.unit_mm``), without the pose: the
  person's shape and expression only.
* **photo**: each vertex where it lies in the photo: ``x``, ``y`` in pixels (y down, as the
  photo's rows) and ``z`` its camera-space depth in millimetres (distance along the optical
  axis, larger is farther). This is the model under the reconstruction's pose and camera
  (rotation, translation, focal length, principal point), so ``(x, y)`` are the pixels the mesh
  covers; see :func:`sk3dmm.plotting.plot_reconstruction`, which draws it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .morphable import MorphableModel

FRAMES = ("model", "photo")
MESH_SUFFIXES = (".obj", ".ply")


@dataclass
class FittedMesh:
    """The fitted mesh of one reconstructed photo.

    Attributes
    ----------
    model_vertices : (n, 3) float64
        Model space, millimetres (+y up, the face looking along +z).
    photo_vertices : (n, 3) float64
        Photo pixels ``x``, ``y`` (y down) and camera depth ``z`` in millimetres.
    triangles : (m, 3) int64
        0-based vertex indices.
    """

    model_vertices: np.ndarray
    photo_vertices: np.ndarray
    triangles: np.ndarray

    def vertices(self, frame: str = "model") -> np.ndarray:
        """The vertices in ``frame``: ``"model"`` or ``"photo"``."""
        if frame not in FRAMES:
            raise ValueError(f"unknown frame {frame!r}; use 'model' or 'photo'")
        return self.model_vertices if frame == "model" else self.photo_vertices


def camera_vertices(model: MorphableModel, reconstruction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model-space, camera-space (both in model units) and pixel positions of every vertex.

    Parameters
    ----------
    model : MorphableModel used for the reconstruction
    reconstruction : sk3dmm.transformers.Reconstruction

    Returns
    -------
    model (n, 3), camera (n, 3) and pixels (n, 2), float64 arrays
    """
    import torch

    from .fitting import project, transform

    c = reconstruction.coefficients
    verts = model.vertices(
        torch.as_tensor(c["alpha"], dtype=torch.float64)[None], torch.as_tensor(c["beta"])[None]
    )
    cam = transform(
        verts,
        torch.as_tensor(reconstruction.rotation, dtype=torch.float64)[None],
        torch.as_tensor(reconstruction.translation, dtype=torch.float64)[None],
    )
    uv = project(
        cam,
        torch.tensor([reconstruction.focal], dtype=torch.float64),
        torch.as_tensor(reconstruction.center, dtype=torch.float64)[None],
    )
    return verts[0].numpy(), cam[0].numpy(), uv[0].numpy()


def fitted_mesh(reconstruction, model: MorphableModel, region: str | None = None) -> FittedMesh:
    """The fitted mesh of a reconstructed photo, in model space and in the photo's frame.

    Parameters
    ----------
    reconstruction : sk3dmm.transformers.Reconstruction
        One entry of ``Reconstruct3DMM.reconstructions_`` (or of ``reconstruct(X)``).
    model : MorphableModel
        The model it was fitted with (``Reconstruct3DMM.model_``).
    region : str, optional
        Keep only this region's vertices (e.g. ``"face"``, see ``model.regions``) and the
        triangles among them, renumbered; None keeps the whole mesh.

    Returns
    -------
    FittedMesh
    """
    verts, cam, uv = camera_vertices(model, reconstruction)
    photo = np.c_[uv, cam[:, 2] * model.unit_mm]
    triangles = np.asarray(model.triangles, dtype=np.int64)
    if region is not None:
        keep = np.zeros(model.n_vertices, bool)
        keep[model.region(region)] = True
        triangles = triangles[keep[triangles].all(1)]
        new_index = np.cumsum(keep) - 1
        triangles, verts, photo = new_index[triangles], verts[keep], photo[keep]
    return FittedMesh(verts * model.unit_mm, photo, triangles)


def _check_mesh(vertices, triangles) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (n, 3), got {v.shape}")
    if t.ndim != 2 or t.shape[1] != 3 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"triangles must be integers of shape (m, 3), got {t.dtype} {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= len(v)):
        raise ValueError(f"triangles index vertices outside 0..{len(v) - 1}")
    return v, t.astype(np.int64)


def write_obj(path: str | os.PathLike, vertices, triangles, comment: str | None = None) -> Path:
    """Write a triangle mesh as a Wavefront OBJ file (text, faces 1-based).

    Parameters
    ----------
    path : path of the file to write
    vertices : (n, 3) array
        Written with 9 significant digits.
    triangles : (m, 3) int array, 0-based
    comment : str, optional
        A ``#`` line at the top.

    Returns
    -------
    Path written
    """
    v, t = _check_mesh(vertices, triangles)
    path = Path(path)
    with open(path, "w", encoding="ascii") as f:
        if comment:
            f.write(f"# {comment}\n")
        f.write("".join(f"v {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in v.tolist()))
        f.write("".join(f"f {a} {b} {c}\n" for a, b, c in (t + 1).tolist()))
    return path


def write_ply(
    path: str | os.PathLike, vertices, triangles, binary: bool = True, comment: str | None = None
) -> Path:
    """Write a triangle mesh as a PLY file.

    Parameters
    ----------
    path : path of the file to write
    vertices : (n, 3) array
        Written as float32 (``property float x``...): about 0.1 um at 1 m, ample for faces.
    triangles : (m, 3) int array, 0-based
        Written as ``property list uchar int vertex_indices``.
    binary : bool, default=True
        ``binary_little_endian`` (a 16k-vertex face is 0.6 MB and reads in milliseconds);
        False writes ASCII PLY.
    comment : str, optional
        A ``comment`` line in the header.

    Returns
    -------
    Path written
    """
    v, t = _check_mesh(vertices, triangles)
    path = Path(path)
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0"]
    if comment:
        header.append(f"comment {comment}")
    header += [
        f"element vertex {len(v)}",
        "property float x",
        "property float y",
        "property float z",
        f"element face {len(t)}",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        if binary:
            f.write(v.astype("<f4").tobytes())
            faces = np.zeros(len(t), dtype=[("n", "u1"), ("i", "<i4", (3,))])
            faces["n"], faces["i"] = 3, t
            f.write(faces.tobytes())
        else:
            f.write(
                "".join(f"{x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in v.astype(np.float32).tolist()).encode()
            )
            f.write("".join(f"3 {a} {b} {c}\n" for a, b, c in t.tolist()).encode())
    return path


def write_mesh(path: str | os.PathLike, vertices, triangles, comment: str | None = None) -> Path:
    """:func:`write_obj` or (binary) :func:`write_ply`, by the file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".obj":
        return write_obj(path, vertices, triangles, comment)
    if suffix == ".ply":
        return write_ply(path, vertices, triangles, comment=comment)
    raise ValueError(f"cannot write {path}: a mesh file must end in .obj or .ply")


__all__ = [
    "FRAMES",
    "MESH_SUFFIXES",
    "FittedMesh",
    "camera_vertices",
    "fitted_mesh",
    "write_mesh",
    "write_obj",
    "write_ply",
]


def points_table(reconstructions, names, reasons=None):
    """The detected points of reconstructed photos as a long table, one row per photo and point.

    Parameters
    ----------
    reconstructions : list of Reconstruction or None
        ``Reconstruct3DMM.reconstructions_`` (None for failed photos).
    names : list of str, how each photo is named in the ``photo`` column
    reasons : list of str, optional, why each failed photo failed

    Returns
    -------
    pandas.DataFrame with columns ``photo, point, x, y, z, reason``: MediaPipe's 468 points
    (``x``, ``y`` photo pixels, ``z`` its relative depth in pixels, smaller is nearer), or the
    68 landmarks of dlib's detectors (``z`` empty); these are the points the fit used, in the
    photo's own pixels. A failed photo has one row, with empty point and coordinates.
    """
    import pandas as pd

    reasons = reasons or [""] * len(names)
    frames = []
    for rec, name, reason in zip(reconstructions, names, reasons):
        if rec is None:
            frames.append(pd.DataFrame({"photo": [name], "point": [pd.NA], "reason": [reason or "failed"]}))
            continue
        pts = rec.mesh if rec.mesh is not None else np.c_[rec.landmarks, np.full(len(rec.landmarks), np.nan)]
        frames.append(
            pd.DataFrame(
                {"photo": name, "point": np.arange(len(pts)), "x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2]}
            )
        )
    frame = pd.concat(frames, ignore_index=True).reindex(columns=["photo", "point", "x", "y", "z", "reason"])
    frame["point"] = frame["point"].astype("Int64")
    frame["reason"] = frame["reason"].fillna("")
    return frame
