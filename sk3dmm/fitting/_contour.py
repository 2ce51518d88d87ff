"""Jaw-contour correspondences that follow the head's yaw."""

from __future__ import annotations

import torch

RIGHT_CONTOUR = tuple(range(0, 8))  # dlib points 0-7: the subject's right jaw line
LEFT_CONTOUR = tuple(range(9, 17))  # dlib points 9-16: the subject's left jaw line


def nearest_contour_vertices(
    points2d: torch.Tensor, candidates2d: torch.Tensor, candidate_ids: torch.Tensor
) -> torch.Tensor:
    """For each image contour point, the candidate vertex projecting nearest to it.

    As the head turns, the jaw outline seen in the photo slides over the 3-D jaw; picking the
    nearest projected candidate (eos's approach) keeps the correspondence on the silhouette.

    Parameters
    ----------
    points2d : (b, p, 2) image contour landmarks
    candidates2d : (b, c, 2) projections of the candidate vertices
    candidate_ids : (c,) what to return for each candidate (vertex or row ids)

    Returns
    -------
    (b, p) chosen ids
    """
    dist = torch.cdist(points2d, candidates2d)
    return candidate_ids[dist.argmin(-1)]
