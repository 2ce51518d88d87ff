"""Photo -> coefficients as a chain of typed stages (see ``docs/architecture.md``):
load (:class:`Photo`) -> detect (:class:`Detection`, a landmarker of
:mod:`sk3dmm.faces.landmarkers`) -> crop (:class:`~sk3dmm.faces.Crop`) -> each regressor of
the method (:class:`Coefficients`, :mod:`sk3dmm.regressors`) -> :class:`Reconstruction`,
composed by :func:`reconstruct_photos` with the error policy and per-stage cache keys."""

from ._cache import StageCache, cache_memory_limit_mb, clear_cache, result_caches, set_cache_memory_limit
from ._detect import CropFace, DetectFace
from ._policy import ErrorPolicy, one_torch_thread
from ._reconstruct import (
    Prepared,
    Stages,
    load_photos,
    prepare_photos,
    reconstruct_batches,
    reconstruct_photos,
    regress_photos,
)
from ._records import Coefficients, Detection, Failure, Photo, Reconstruction

__all__ = [
    "Coefficients",
    "CropFace",
    "DetectFace",
    "Detection",
    "ErrorPolicy",
    "Failure",
    "Photo",
    "Prepared",
    "Reconstruction",
    "StageCache",
    "Stages",
    "cache_memory_limit_mb",
    "clear_cache",
    "load_photos",
    "one_torch_thread",
    "prepare_photos",
    "reconstruct_batches",
    "reconstruct_photos",
    "regress_photos",
    "result_caches",
    "set_cache_memory_limit",
]
