"""Landmark fitting: camera pose, identity and expression by analysis-by-synthesis.

Read top-down: :func:`fit_shape_and_pose` composes :func:`estimate_pose_affine`,
:func:`refine_pose`, :func:`nearest_contour_vertices` and :func:`solve_box_qp`.
"""

from ._camera import axis_angle_to_matrix, euler_to_matrix, matrix_to_euler, project, transform
from ._contour import nearest_contour_vertices
from ._fit import LandmarkFit, default_focal, fit_shape_and_pose, fit_to_blocks
from ._pose import estimate_pose_affine, refine_pose
from ._shape import linear_shape_system, solve_box_qp

__all__ = [
    "LandmarkFit",
    "axis_angle_to_matrix",
    "default_focal",
    "estimate_pose_affine",
    "euler_to_matrix",
    "fit_shape_and_pose",
    "fit_to_blocks",
    "linear_shape_system",
    "matrix_to_euler",
    "nearest_contour_vertices",
    "project",
    "refine_pose",
    "solve_box_qp",
    "transform",
]
