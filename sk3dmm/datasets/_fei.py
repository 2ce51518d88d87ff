"""Loader for the FEI face database (Centro Universitario da FEI, Brazil) folder layout."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._folders import image_files, read_images, report_misnamed

FEI_PATTERN = re.compile(r"^(?P<person>\d{1,3})-(?P<pose>\d{2})\.(?:jpg|JPG|jpeg|JPEG|png|PNG)$")
FEI_TARGETS = ("gender", "identity", "pose")


def _read_gender(gender) -> dict[int, str]:
    if gender is None:
        return {}
    if isinstance(gender, Mapping):
        table = {int(k): str(v) for k, v in gender.items()}
    else:
        df = pd.read_csv(gender)
        missing = {"person", "gender"} - set(df.columns)
        if missing:
            raise ValueError(
                f"gender file {gender} needs columns 'person' and 'gender'; missing {sorted(missing)}"
            )
        table = dict(zip(df["person"].astype(int), df["gender"].astype(str)))
    bad = {v for v in table.values() if v not in ("female", "male")}
    if bad:
        raise ValueError(f"gender labels must be 'female' or 'male', got {sorted(bad)}")
    return table


def load_fei(
    root: str | Path,
    *,
    target: str = "gender",
    gender=None,
    poses: tuple[int, ...] | None = None,
    load_images: bool = False,
    on_mismatch: str = "warn",
) -> Bunch:
    """Index (and optionally read) an FEI face database folder.

    FEI names its photos ``<person>-<pose>.jpg`` (persons 1-200, poses 01-14), spread over
    ``originalimages_part1`` ... folders. The file names do not encode gender, and we know of
    no documented id range that does, so gender comes from ``gender``: a CSV file with
    columns ``person`` and ``gender`` (female/male) or a mapping person -> gender.

    Parameters
    ----------
    root : path
    target : {"gender", "identity", "pose"}, default="gender"
    gender : path, mapping or None
        Required when ``target="gender"``; persons missing from it are an error.
    poses : tuple of int, optional
        Keep only these pose numbers.
    load_images : bool, default=False
    on_mismatch : {"warn", "raise", "ignore"}, default="warn"

    Returns
    -------
    Bunch with ``filenames``, ``frame`` (person, identity, pose, gender, path), ``target``,
    ``target_names``, ``images`` (if loaded) and ``DESCR``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from sk3dmm.datasets import load_fei
    >>> root = Path(tempfile.mkdtemp()) / "originalimages_part1"
    >>> root.mkdir()
    >>> for name in ("1-01.jpg", "1-11.jpg", "2-01.jpg"):
    ...     Image.new("RGB", (64, 48)).save(root / name)
    >>> fei = load_fei(root.parent, gender={1: "female", 2: "male"})
    >>> fei.target.tolist()
    ['female', 'female', 'male']
    """
    if target not in FEI_TARGETS:
        raise ValueError(f"target must be one of {FEI_TARGETS}, got {target!r}")
    table = _read_gender(gender)
    rows, problems = [], []
    for path in image_files(root):
        m = FEI_PATTERN.match(path.name)
        if m is None:
            problems.append((path, "name is not <person>-<pose>.jpg"))
            continue
        person, pose = int(m["person"]), int(m["pose"])
        if not (1 <= person <= 200 and 1 <= pose <= 14):
            problems.append((path, f"person {person} or pose {pose} outside FEI's 1-200 and 01-14"))
            continue
        rows.append(
            {
                "person": person,
                "identity": f"P{person:03d}",
                "pose": pose,
                "gender": table.get(person),
                "path": str(path),
            }
        )
    report_misnamed(problems, "FEI", on_mismatch)
    frame = pd.DataFrame(rows, columns=["person", "identity", "pose", "gender", "path"])
    if poses is not None:
        frame = frame[frame["pose"].isin(poses)].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"no FEI photos found under {root}")
    if target == "gender":
        if not table:
            raise ValueError(
                "FEI file names carry no gender: pass gender= (a CSV with person,gender or a mapping)"
            )
        unknown = sorted(int(p) for p in frame.loc[frame["gender"].isna(), "person"].unique())
        if unknown:
            raise ValueError(
                f"gender= has no label for persons {unknown[:10]}{' ...' if len(unknown) > 10 else ''}"
            )
    out = Bunch(
        filenames=frame["path"].to_numpy(),
        frame=frame,
        target=frame[target].to_numpy(),
        target_names=np.array(sorted(frame[target].dropna().unique())),
        DESCR=f"FEI folder {root}: {len(frame)} photos of {frame['person'].nunique()} people",
    )
    if load_images:
        out.images = read_images(frame["path"])
    return out
