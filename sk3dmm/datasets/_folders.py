"""Shared by the dataset loaders: walking a folder, reporting misnamed files, reading images."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


class MisnamedFileWarning(UserWarning):
    """A file in a dataset folder does not follow the dataset's naming and was skipped."""


def image_files(root: str | Path) -> list[Path]:
    """All image files below ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def report_misnamed(problems: list[tuple[Path, str]], dataset: str, on_mismatch: str) -> None:
    """Raise or warn about files that were not used, naming each and why."""
    if not problems:
        return
    listed = "; ".join(f"{p}: {why}" for p, why in problems[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    message = f"{len(problems)} files do not follow {dataset}'s naming and were not used: {listed}{more}"
    if on_mismatch == "raise":
        raise ValueError(message)
    if on_mismatch == "warn":
        warnings.warn(message, MisnamedFileWarning, stacklevel=3)
    elif on_mismatch != "ignore":
        raise ValueError(f"on_mismatch must be 'raise', 'warn' or 'ignore', got {on_mismatch!r}")


def read_images(paths) -> list[np.ndarray]:
    from ..faces import read_image

    return [read_image(p) for p in paths]
