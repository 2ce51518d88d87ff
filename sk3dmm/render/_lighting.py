"""Lambertian shading under 27 spherical-harmonics coefficients (3 bands x RGB), as in Deng et al."""

from __future__ import annotations

import math

import torch

# Deng et al. (Deep3DFaceRecon) add this ambient term to the first coefficient of each channel.
AMBIENT_INIT = 0.8

_A = (math.pi, 2 * math.pi / math.sqrt(3.0), 2 * math.pi / math.sqrt(8.0))
_C = (
    1 / math.sqrt(4 * math.pi),
    math.sqrt(3.0) / math.sqrt(4 * math.pi),
    3 * math.sqrt(5.0) / math.sqrt(12 * math.pi),
)


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """The 9 irradiance-weighted SH basis values of unit normals (..., 3) -> (..., 9)."""
    nx, ny, nz = normals.unbind(-1)
    a0c0, a1c1, a2c2 = _A[0] * _C[0], _A[1] * _C[1], _A[2] * _C[2]
    return torch.stack(
        [
            torch.full_like(nx, a0c0),
            -a1c1 * ny,
            a1c1 * nz,
            -a1c1 * nx,
            a2c2 * nx * ny,
            -a2c2 * ny * nz,
            0.5 * a2c2 / math.sqrt(3.0) * (3 * nz.square() - 1),
            -a2c2 * nx * nz,
            0.5 * a2c2 * (nx.square() - ny.square()),
        ],
        -1,
    )


def shade(albedo: torch.Tensor, normals: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Per-vertex colour ``albedo * irradiance(normal)``.

    Parameters
    ----------
    albedo : (b, n, 3) in [0, 1]
    normals : (b, n, 3) unit normals in the frame the lighting is expressed in
    gamma : (b, 27) SH coefficients, 9 per colour channel (R block first); the ambient
        ``AMBIENT_INIT`` is added to each channel's first coefficient, as Deng et al. do.

    Returns
    -------
    (b, n, 3) colours
    """
    g = gamma.reshape(-1, 3, 9).clone()
    g[:, :, 0] = g[:, :, 0] + AMBIENT_INIT
    irradiance = torch.einsum("bnk,bck->bnc", sh_basis(normals), g)
    return albedo * irradiance


def vertex_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals of a batch of meshes (b, n, 3)."""
    v0, v1, v2 = (vertices[:, triangles[:, i]] for i in range(3))
    face_n = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)
    normals = torch.zeros_like(vertices)
    for i in range(3):
        normals = normals.index_add(1, triangles[:, i], face_n)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)
