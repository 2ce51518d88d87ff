"""Regressors: a photo's face (its :class:`~sk3dmm.pipeline.Detection` and
:class:`~sk3dmm.faces.Crop`) to coefficients, and the methods made of them.

A regressor is built as ``factory(settings)`` (a :class:`RegressionSettings`) and has a
``name`` (for messages), a ``key`` (a string that changes whenever its output would) and
``__call__(items) -> list[Coefficients]`` for a batch of ``(detection, crop, previous)``
triples, ``previous`` being the :class:`~sk3dmm.pipeline.Coefficients` of the regressor before
it in the method (None for the first). A regressor that reads R-Net sets ``uses_rnet = True``;
one whose crop differs from the default sets ``crop_spec``; one that never reads the crop's
pixels sets ``reads_crops = False`` (then a method made of such regressors need not sample
them). A method is the names of its regressors, run in turn: :data:`METHODS`.
``register_regressor`` / ``register_method`` add yours.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from ._settings import RegressionSettings

REGRESSORS: dict[str, str | Callable] = {
    "rnet": "sk3dmm.regressors._rnet:RNetRegressor",
    "dense_fit": "sk3dmm.regressors._dense_fit:free_fit",
    "pose_fit": "sk3dmm.regressors._dense_fit:pose_fit",
    "refine": "sk3dmm.regressors._dense_fit:refining_fit",
    "blendshapes": "sk3dmm.regressors._blendshapes:BlendshapeRegressor",
    "blendshapes_if_given": "sk3dmm.regressors._blendshapes:OptionalBlendshapeRegressor",
    "expression_fit": "sk3dmm.regressors._dense_fit:expression_fit",
    "refine_expression_held": "sk3dmm.regressors._dense_fit:refining_expression_fit",
}

METHODS: dict[str, tuple[str, ...]] = {
    "landmarks": ("dense_fit",),
    "rnet": ("rnet", "pose_fit"),
    "rnet_refined": ("rnet", "refine"),
    # MediaPipe v2's blendshape scores as beta (detector="mediapipe_v2"): identity and pose
    # fitted with that expression held; or the fit's expression prior centred on them (the
    # default; on the neutral face, i.e. "landmarks", for a detector without scores); or
    # R-Net's identity with them; or R-Net's identity refined by the fit with them held
    "blendshapes": ("blendshapes", "expression_fit"),
    "blendshapes_prior": ("blendshapes_if_given", "refine"),
    "rnet_blendshapes": ("rnet", "blendshapes", "pose_fit"),
    "rnet_refined_blendshapes": ("rnet", "blendshapes", "refine_expression_held"),
}


class Regressor(Protocol):
    """What a method is made of (see the module's docstring)."""

    name: str
    key: str

    def __call__(self, items: list[tuple]) -> list: ...


def register_regressor(name: str, factory: Callable[[RegressionSettings], Regressor] | str) -> None:
    """Make ``name`` usable in a method (``factory(settings)``, or ``"module:attribute"``)."""
    REGRESSORS[name] = factory


def register_method(name: str, regressors: tuple[str, ...]) -> None:
    """Make ``Reconstruct3DMM(method=name)`` run these registered regressors in turn."""
    unknown = [r for r in regressors if r not in REGRESSORS]
    if not regressors or unknown:
        raise ValueError(f"method {name!r}: unknown regressors {unknown}; registered: {sorted(REGRESSORS)}")
    METHODS[name] = tuple(regressors)


def regressor_factory(name: str) -> Callable[[RegressionSettings], Regressor]:
    """The factory registered as ``name`` (imported on first use)."""
    factory = REGRESSORS[name]
    if isinstance(factory, str):
        module, attribute = factory.split(":")
        factory = getattr(importlib.import_module(module), attribute)
    return factory


def method_regressors(method: str) -> tuple[str, ...]:
    """The regressor names of a method, or a ValueError naming the registered methods."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; registered: {sorted(METHODS)}")
    return METHODS[method]


def uses_rnet(method: str) -> bool:
    """Whether a method needs R-Net (loaded, and fine-tunable, in ``fit``)."""
    return any(getattr(regressor_factory(r), "uses_rnet", False) for r in method_regressors(method))


def reads_blendshapes(method: str) -> bool:
    """Whether a method reads the blendshape scores of ``detector="mediapipe_v2"``."""
    return any(getattr(regressor_factory(r), "reads_blendshapes", False) for r in method_regressors(method))


def build_regressors(method: str, settings: RegressionSettings) -> tuple[Regressor, ...]:
    """The regressors of ``method``, built with ``settings``."""
    return tuple(regressor_factory(r)(settings) for r in method_regressors(method))


def photo_angles(crop_angles_deg, crop_roll):
    """R-Net's (yaw, pitch, roll) in degrees seen in its level-turned crop, (n, 3), as the
    photo camera's angles, given each crop's turn ``crop_roll`` (n,) in radians."""
    from ._dense_fit import photo_angles as in_photo

    return in_photo(crop_angles_deg, crop_roll)


__all__ = [
    "METHODS",
    "REGRESSORS",
    "RegressionSettings",
    "Regressor",
    "build_regressors",
    "method_regressors",
    "photo_angles",
    "reads_blendshapes",
    "register_method",
    "register_regressor",
    "regressor_factory",
    "uses_rnet",
]
