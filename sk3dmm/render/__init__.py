"""Differentiable rendering in plain torch: SH lighting, z-buffer rasterizer, face renders, albedo."""

from ._albedo import AlbedoParams, ict_albedo, random_albedo_params
from ._lighting import AMBIENT_INIT, sh_basis, shade, vertex_normals
from ._rasterize import Fragments, interpolate, rasterize
from ._renderer import Rendering, deng_camera, pose_to_camera, render_faces, render_faces_uint8, render_mesh

__all__ = [
    "AMBIENT_INIT",
    "AlbedoParams",
    "Fragments",
    "Rendering",
    "deng_camera",
    "ict_albedo",
    "interpolate",
    "pose_to_camera",
    "random_albedo_params",
    "rasterize",
    "render_faces",
    "render_faces_uint8",
    "render_mesh",
    "sh_basis",
    "shade",
    "vertex_normals",
]
