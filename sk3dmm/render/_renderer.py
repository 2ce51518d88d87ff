"""Render meshes and morphable-model faces: camera, shading, rasterization, compositing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..fitting import euler_to_matrix, project, transform
from ..morphable import MorphableModel
from ._lighting import shade, vertex_normals
from ._rasterize import Fragments, interpolate, rasterize

# Deng et al. (Deep3DFaceRecon): focal 1015 px for a 224 px crop, camera 10 dm from the origin.
DENG_FOCAL_224 = 1015.0
DENG_DISTANCE_MM = 1000.0

# camera frame (x right, y down, z forward) to the lighting frame (y up, z towards the camera)
_TO_LIGHT = (1.0, -1.0, -1.0)


@dataclass
class Rendering:
    """A batch of rendered images.

    Attributes
    ----------
    image : (b, h, w, 3) float in [0, 1] (composited over the background)
    mask : (b, h, w) bool, True where the mesh covers the pixel
    triangle_id : (b, h, w) long, -1 on background
    depth : (b, h, w) camera-space depth in model units, +inf on background
    """

    image: torch.Tensor
    mask: torch.Tensor
    triangle_id: torch.Tensor
    depth: torch.Tensor


def deng_camera(image_size: int, unit_mm: float) -> tuple[float, float]:
    """Focal length (pixels) and camera distance (model units) of Deng et al.'s setup,
    scaled to ``image_size``."""
    return DENG_FOCAL_224 * image_size / 224.0, DENG_DISTANCE_MM / unit_mm


def render_mesh(
    vertices: torch.Tensor,
    triangles: torch.Tensor,
    colors: torch.Tensor,
    focal: torch.Tensor | float,
    center: torch.Tensor,
    height: int,
    width: int,
    background: torch.Tensor | None = None,
    cull_backfaces: bool = True,
) -> Rendering:
    """Rasterize camera-space meshes with per-vertex colours.

    Parameters
    ----------
    vertices : (b, n, 3) camera space (x right, y down, z forward)
    triangles : (f, 3) long
    colors : (b, n, 3) per-vertex colours (already shaded)
    focal : float or (b,) pixels
    center : (2,) or (b, 2) pixels
    background : (b, h, w, 3) or (b, 3) or None (black)
    """
    b = vertices.shape[0]
    focal = torch.as_tensor(focal, dtype=vertices.dtype, device=vertices.device).expand(b)
    center = torch.as_tensor(center, dtype=vertices.dtype, device=vertices.device).expand(b, 2)
    screen = torch.cat([project(vertices, focal, center), vertices[..., 2:]], -1)
    frags: Fragments = rasterize(screen, triangles, height, width, cull_backfaces)
    rgb = interpolate(colors, triangles, frags)
    if background is None:
        background = torch.zeros(b, 1, 1, 3, dtype=rgb.dtype, device=rgb.device)
    elif background.ndim == 2:
        background = background[:, None, None, :]
    image = torch.where(frags.mask[..., None], rgb.clamp(0, 1), background.to(rgb.dtype).expand_as(rgb))
    return Rendering(image=image, mask=frags.mask, triangle_id=frags.triangle_id, depth=frags.depth)


def render_faces(
    model: MorphableModel,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    albedo: torch.Tensor,
    gamma: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    focal: torch.Tensor | float,
    center: torch.Tensor,
    image_size: int | tuple[int, int],
    background: torch.Tensor | None = None,
    triangles: torch.Tensor | None = None,
) -> Rendering:
    """Render faces of a morphable model under SH lighting.

    Parameters
    ----------
    model : MorphableModel
    alpha, beta : (b, n_identity), (b, n_expression)
    albedo : (b, n_vertices, 3) or (n_vertices, 3) in [0, 1]
    gamma : (b, 27) SH lighting (see :func:`sk3dmm.render.shade`)
    rotation, translation : (b, 3, 3), (b, 3) model to camera (see :mod:`sk3dmm.fitting`)
    focal, center : camera intrinsics in pixels
    image_size : int or (height, width)
    triangles : (f, 3), optional
        A subset of the model's triangles to draw (default: all).
    """
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    verts = model.vertices(alpha, beta)
    tri = model.tensors(verts.device)["triangles"] if triangles is None else triangles.to(verts.device)
    cam = transform(verts, rotation.to(verts.dtype), translation.to(verts.dtype))
    normals = vertex_normals(cam, tri) * torch.tensor(_TO_LIGHT, dtype=cam.dtype, device=cam.device)
    albedo = albedo.to(cam.dtype).expand(len(cam), -1, -1)
    colors = shade(albedo, normals, gamma.to(cam.dtype)).clamp(0, 1)
    return render_mesh(cam, tri, colors, focal, center, h, w, background)


def pose_to_camera(
    yaw_deg: torch.Tensor,
    pitch_deg: torch.Tensor,
    roll_deg: torch.Tensor,
    pivot: torch.Tensor,
    distance: float,
    offset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation and translation that turn the head about ``pivot`` (model space) and place the
    pivot ``distance`` in front of the camera (plus an optional camera-space ``offset``)."""
    rot = euler_to_matrix(*(torch.deg2rad(a) for a in (yaw_deg, pitch_deg, roll_deg)))
    pivot = pivot.to(rot.dtype)
    t = -(rot @ pivot)
    t = t + torch.tensor([0.0, 0.0, distance], dtype=rot.dtype)
    if offset is not None:
        t = t + offset.to(rot.dtype)
    return rot, t


def render_faces_uint8(
    model: MorphableModel,
    alpha,
    beta,
    albedo_table,
    albedo_index,
    gamma,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    focal,
    center,
    image_size: int,
    background,
    batch_size: int = 64,
    progress: bool = False,
):
    """Render many faces in batches without gradients, yielding ``(slice, uint8 images)``.

    ``albedo_table`` (k, n_vertices, 3) holds shared albedos and ``albedo_index`` (n,) picks one
    per face; ``focal`` is a scalar or one value per face; ``background`` is (n, 3) RGB.
    """
    from tqdm.auto import tqdm

    n = len(alpha)
    f32 = torch.float32
    focal = np.broadcast_to(np.asarray(focal, dtype=np.float32), (n,)).copy()
    table = torch.as_tensor(albedo_table, dtype=f32)
    center_t = torch.as_tensor(np.asarray(center), dtype=f32)
    with torch.no_grad():
        for s in tqdm(range(0, n, batch_size), desc="render", disable=not progress):
            sl = slice(s, min(n, s + batch_size))
            out = render_faces(
                model,
                torch.as_tensor(alpha[sl], dtype=f32),
                torch.as_tensor(beta[sl], dtype=f32),
                table[np.asarray(albedo_index)[sl]],
                torch.as_tensor(gamma[sl], dtype=f32),
                rotation[sl].float(),
                translation[sl].float(),
                torch.as_tensor(focal[sl]),
                center_t,
                image_size,
                background=torch.as_tensor(background[sl], dtype=f32),
            )
            yield sl, (out.image.numpy() * 255 + 0.5).astype(np.uint8)
