"""Differentiable rendering in plain torch: SH lighting, z-buffer rasterizer, face renders, albedo."""

from ._albedo import AlbedoParams, ict_albedo, random_albedo_params
from ._lighting import AMBIENT_INIT, sh_basis, shade, vertex_normals
from ._photo_like import PhotoBank, build_photo_bank, degrade, hair_albedo, natural_backgrounds
from ._rasterize import Fragments, interpolate, rasterize
from ._renderer import Rendering, deng_camera, pose_to_camera, render_faces, render_faces_uint8, render_mesh

__all__ = [
    "AMBIENT_INIT",
    "AlbedoParams",
    "PhotoBank",
    "Fragments",
    "Rendering",
    "build_photo_bank",
    "degrade",
    "deng_camera",
    "hair_albedo",
    "ict_albedo",
    "interpolate",
    "natural_backgrounds",
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
