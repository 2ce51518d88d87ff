"""The embedded ICT-FaceKit "Face Model Light" (MIT licence, see data/ICT-FaceKit-LICENSE)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..exceptions import ModelFileError
from ._files import DATA_DIR, check_embedded_digest, shipped_sha256, verified_path
from ._model import MorphableModel

ICT_FILE = DATA_DIR / "ict_face_light.npz"


@lru_cache(maxsize=4)
def load_ict_model(path: str | Path | None = None, *, verify: bool = True) -> MorphableModel:
    """Load the embedded ICT-FaceKit face model (100 identity modes, 53 ARKit blendshapes).

    Shipped regions: face, head and neck, mouth socket and eyeballs (16,434 vertices).
    Units are centimetres; +y is up and the face looks along +z. Cached: repeated calls
    return the same object.

    Parameters
    ----------
    path : str or Path, optional
        Another file in the same layout (see ``tools/make_embedded_model.py``).
    verify : bool, default=True
        Check the shipped file's SHA-256 (only for the embedded file).

    Returns
    -------
    MorphableModel

    Examples
    --------
    >>> from sk3dmm import load_ict_model
    >>> model = load_ict_model()
    >>> model.n_identity, model.n_expression, model.expression_names[:2]
    (100, 53, ['browDown_L', 'browDown_R'])
    """
    embedded = path is None and verify
    if path is None:
        path = verified_path(ICT_FILE, ICT_FILE.with_suffix(".sha256")) if verify else ICT_FILE
    elif not Path(path).is_file():
        raise ModelFileError(f"model file {path}: file not found")
    model = _read_npz(path)
    if embedded:  # pickles name the verified file instead of holding its 30 MB
        model._embedded = (
            ICT_FILE.name,
            shipped_sha256(ICT_FILE.with_suffix(".sha256")),
            model._content_digest(),
            embedded_model_from_pickle,
        )
    return model


def embedded_model_from_pickle(name: str, sha256: str) -> MorphableModel:
    """Unpickle an embedded model stored by name: the cached :func:`load_ict_model`, after
    checking that the installed file is the one the pickle was made with.

    Pickles name this function: keep its module, name and arguments.

    Raises
    ------
    ModelFileError
        If this installation does not ship ``name`` or ships another version of it.
    """
    if name != ICT_FILE.name:
        raise ModelFileError(
            f"this pickle names an embedded model file {name!r} that this sk3dmm installation does not "
            f"ship (it has {ICT_FILE.name}); unpickle it with the sk3dmm version that made it"
        )
    model = load_ict_model()
    check_embedded_digest("morphable model", name, sha256, model._embedded[1])
    return model


def _read_npz(path: str | Path) -> MorphableModel:
    try:
        d = np.load(path)
        regions = {str(name): np.arange(a, b) for name, (a, b) in zip(d["region_names"], d["region_ranges"])}
        return MorphableModel(
            mean=d["mean"],
            identity_basis=d["identity"],
            expression_basis=d["expression"],
            triangles=d["triangles"].astype(np.int64),
            landmark_indices=d["landmarks_68"].astype(np.int64),
            expression_names=[str(n) for n in d["expression_names"]],
            expression_bounds=(0.0, 1.0),
            unit_mm=10.0,
            contour_candidates={
                "right": d["jaw_right_extended"].astype(np.int64),
                "left": d["jaw_left_extended"].astype(np.int64),
            },
            regions=regions,
            name="ICT-FaceKit light",
        )
    except KeyError as exc:
        raise ModelFileError(f"model file {path}: not in sk3dmm's .npz layout, missing array {exc}") from exc
    except Exception as exc:  # BadZipFile, truncated arrays, pickled objects, inconsistent shapes
        raise ModelFileError(
            f"model file {path}: not a readable sk3dmm .npz model ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
