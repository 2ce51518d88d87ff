"""Turn the ``model=`` parameter of an estimator into a MorphableModel."""

from __future__ import annotations

import os
from pathlib import Path

from ..morphable import MorphableModel, load_bfm_model, load_ict_model


def resolve_model(model: MorphableModel | str | os.PathLike | None) -> MorphableModel:
    """``None``: the embedded ICT model; a ``.mat`` path: Deep3DFaceRecon's BFM file; a ``.npz``
    path: a model in the embedded layout; a MorphableModel: itself."""
    if model is None:
        return load_ict_model()
    if isinstance(model, MorphableModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.suffix.lower() == ".mat":
            return load_bfm_model(path)
        if path.suffix.lower() == ".npz":
            return load_ict_model(str(path), verify=False)
        raise ValueError(f"model file {path} must be a BFM_model_front .mat or an sk3dmm .npz")
    raise TypeError(f"model must be None, a path or a MorphableModel, got {type(model).__name__}")
