"""Landmarks of random model faces seen through a known camera, with ground truth."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import Bunch, check_random_state

from ..fitting import euler_to_matrix, project, transform
from ..morphable import MorphableModel, load_ict_model


def random_coefficients(
    model: MorphableModel, n: int, rng: np.random.Generator, active_expressions: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """alpha ~ N(0, 1); beta uniform in the model's bounds on a random subset of modes
    (blendshape models), or N(0, 1) for PCA expression bases."""
    alpha = rng.standard_normal((n, model.n_identity))
    if model.expression_bounds is None:
        beta = rng.standard_normal((n, model.n_expression))
    else:
        lo, hi = model.expression_bounds
        beta = rng.uniform(lo, hi, (n, model.n_expression)) * (
            rng.random((n, model.n_expression)) < active_expressions
        )
    return alpha, beta


def make_synthetic_landmarks(
    n_samples: int = 256,
    *,
    model: MorphableModel | None = None,
    yaw_range: tuple[float, float] = (-60.0, 60.0),
    pitch_range: tuple[float, float] = (-15.0, 15.0),
    roll_range: tuple[float, float] = (-10.0, 10.0),
    noise_px: float = 0.5,
    image_size: int = 512,
    distance_mm: float = 1000.0,
    random_state=None,
) -> Bunch:
    """68 image landmarks of random faces through a known perspective camera.

    The face is placed ``distance_mm`` from the camera with a focal length that makes it
    about a third of the image wide. Landmarks are the model's 68 landmark vertices
    (no silhouette sliding), plus Gaussian noise of ``noise_px`` pixels.

    Returns
    -------
    Bunch with ``landmarks`` (n, 68, 2), ``alpha``, ``beta``, ``yaw``, ``pitch``, ``roll``
    (degrees), ``rotation``, ``translation`` (model units), ``focal``, ``center``,
    ``landmarks3d`` (n, 68, 3 model units) and ``vertices_fn`` to rebuild full meshes.
    """
    model = load_ict_model() if model is None else model
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
    alpha, beta = random_coefficients(model, n_samples, rng)
    angles = [rng.uniform(*r, n_samples) for r in (yaw_range, pitch_range, roll_range)]
    rot = euler_to_matrix(*(torch.as_tensor(np.deg2rad(a)) for a in angles))
    dist = distance_mm / model.unit_mm
    trans = np.c_[rng.uniform(-0.03, 0.03, (n_samples, 2)) * dist, np.full(n_samples, dist)]
    focal = np.full(n_samples, image_size / 3 * dist / (150.0 / model.unit_mm))
    center = np.full((n_samples, 2), image_size / 2.0)
    lm3 = model.landmarks(torch.as_tensor(alpha), torch.as_tensor(beta))
    lm2 = project(
        transform(lm3, rot, torch.as_tensor(trans)), torch.as_tensor(focal), torch.as_tensor(center)
    )
    lm2 = lm2.numpy() + rng.normal(0, noise_px, lm2.shape)
    return Bunch(
        landmarks=lm2,
        alpha=alpha,
        beta=beta,
        yaw=angles[0],
        pitch=angles[1],
        roll=angles[2],
        rotation=rot.numpy(),
        translation=trans,
        focal=focal,
        center=center,
        landmarks3d=lm3.numpy(),
    )
