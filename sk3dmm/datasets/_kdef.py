"""Loader for the Karolinska Directed Emotional Faces (KDEF) folder layout."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._folders import image_files, read_images, report_misnamed
from ._kdef_names import ANGLES, EXPRESSIONS, GENDERS, KDEF_PATTERN

KDEF_FOLDER = re.compile(r"^[AB][FM]\d{2}$")  # a per-person folder such as AF01

KDEF_TARGETS = ("expression", "identity", "gender", "angle", "session")


def load_kdef(
    root: str | Path,
    *,
    target: str = "expression",
    angles: tuple[str, ...] | None = None,
    load_images: bool = False,
    on_mismatch: str = "warn",
) -> Bunch:
    """Index (and optionally read) a KDEF folder.

    KDEF names every photo ``<session><gender><id><expression><angle>.JPG`` in a folder per
    session and person, e.g. ``AF01/AF01AFS.JPG``; copies also come as one flat folder, with
    ``.jpg`` or lower-case names, inside ``KDEF_and_AKDEF/KDEF/``, or with a few files
    missing: all are read (any depth below ``root``; names decide the labels): session A or B, F or M, person 01-35,
    expression AF (afraid), AN (angry), DI (disgusted), HA (happy), NE (neutral), SA (sad),
    SU (surprised), angle FL, HL, S, HR, FR (full left, half left, straight, half right,
    full right). Labels come from the file name only.

    Parameters
    ----------
    root : path
    target : {"expression", "identity", "gender", "angle", "session"}
        The column returned as ``target``. ``identity`` is gender + id (``F01``), the same
        person in both sessions.
    angles : tuple of angle codes, optional
        Keep only these angles (e.g. ``("S",)`` for frontal photos).
    load_images : bool, default=False
        Read the images (RGB uint8) into ``images``; otherwise only paths are listed.
    on_mismatch : {"warn", "raise", "ignore"}, default="warn"
        What to do with files whose name does not parse, or which sit in another person's
        folder: never a silent wrong label.

    Returns
    -------
    Bunch with ``filenames``, ``frame`` (session, gender, identity, expression,
    expression_code, angle, yaw, path), ``target``, ``target_names``, ``images`` (if loaded)
    and ``DESCR``.

    Examples
    --------
    >>> import tempfile
    >>> from sk3dmm.datasets import load_kdef, make_synthetic_faces, write_kdef_folder
    >>> faces = make_synthetic_faces(2, image_size=48, expressions=("HA", "SA"), angles=("S",))
    >>> root = tempfile.mkdtemp()
    >>> _ = write_kdef_folder(faces, root)
    >>> kdef = load_kdef(root, target="expression")
    >>> len(kdef.filenames), kdef.target_names.tolist()
    (4, ['happy', 'sad'])
    """
    if target not in KDEF_TARGETS:
        raise ValueError(f"target must be one of {KDEF_TARGETS}, got {target!r}")
    if angles is not None and any(a not in ANGLES for a in angles):
        raise ValueError(f"angles must be among {list(ANGLES)}, got {angles}")
    rows, problems = [], []
    for path in image_files(root):
        m = KDEF_PATTERN.match(path.name)
        if m is None:
            problems.append((path, "name is not <session><gender><id><expression><angle>.JPG"))
            continue
        prefix = path.name[:4].upper()
        folder = path.parent.name.upper()
        if KDEF_FOLDER.match(folder) and folder != prefix:
            problems.append((path, f"file of {prefix} inside folder {path.parent.name}"))
            continue
        g, code, angle = m["gender"].upper(), m["expression"].upper(), m["angle"].upper()
        rows.append(
            {
                "session": m["session"].upper(),
                "gender": GENDERS[g],
                "identity": f"{g}{m['person']}",
                "expression": EXPRESSIONS[code],
                "expression_code": code,
                "angle": angle,
                "yaw": ANGLES[angle],
                "path": str(path),
            }
        )
    report_misnamed(problems, "KDEF", on_mismatch)
    frame = pd.DataFrame(
        rows,
        columns=["session", "gender", "identity", "expression", "expression_code", "angle", "yaw", "path"],
    )
    if angles is not None:
        frame = frame[frame["angle"].isin(angles)].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"no KDEF photos found under {root}")
    out = Bunch(
        filenames=frame["path"].to_numpy(),
        frame=frame,
        target=frame[target].to_numpy(),
        target_names=np.array(sorted(frame[target].unique())),
        DESCR=f"KDEF folder {root}: {len(frame)} photos of {frame['identity'].nunique()} people",
    )
    if load_images:
        out.images = read_images(frame["path"])
    return out
