"""The ``on_error`` policy: what a batch does with a sample it cannot process.

``"raise"`` stops at the first failing sample with its typed error (:class:`FaceNotFoundError`,
:class:`ImageReadError`, both ``ValueError``), naming it; ``"warn"`` and ``"nan"`` turn the
sample into a row of NaN and list it in ``failures_`` (``"warn"`` also warns, once per batch).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from functools import cache
from pathlib import Path

import pandas as pd

from ..exceptions import FaceNotFoundError, ImageReadError, ModelFileError, ReconstructionError

ON_ERROR = ("raise", "warn", "nan")
SAMPLE_ERRORS = (FaceNotFoundError, ImageReadError, ReconstructionError)
KEEP_GOING = "Pass on_error='warn' or 'nan' to keep going."


@cache
def _library_dirs() -> tuple[str, ...]:
    """Folders of library code: a warning points at the first frame outside them, the user's
    line (also when the call came through a Pipeline or GridSearchCV)."""
    dirs = []
    for name in ("sk3dmm", "sklearn", "skorch", "joblib"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.append(str(Path(next(iter(spec.submodule_search_locations))).resolve()))
    return tuple(dirs)


class SampleFailure(UserWarning):
    """Issued when ``on_error="warn"`` turns a failed sample into a row of NaN."""


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning issued by the caller of this function point at
    the first frame outside sk3dmm, scikit-learn, skorch and joblib."""
    library = _library_dirs()
    frame = sys._getframe(1)
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(library):
        frame = frame.f_back
        level += 1
    return level


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointing at the user's line rather than the library's."""
    warnings.warn(message, category, stacklevel=caller_stacklevel())


def describe_sample(item, index: int, set_index: tuple[int, int] | None = None) -> str:
    """How to name a sample in a message: its set and place in it when it belongs to a set,
    its path if it has one, else its index."""
    where = f"set {set_index[0]}, photo {set_index[1]}" if set_index is not None else f"sample {index}"
    if isinstance(item, str) or hasattr(item, "__fspath__"):
        return f"{where} ({item})"
    return where


def raise_sample_error(exc: ValueError) -> None:
    """Re-raise a sample's error (same type, message naming it) with the way to keep going."""
    raise type(exc)(f"{exc}. {KEEP_GOING}") from exc


def apply_policy(failures: list[tuple[int, str, str]], on_error: str) -> pd.DataFrame:
    """Warn (or stay quiet) about failed samples; return them as a frame.

    Parameters
    ----------
    failures : list of (index, sample description, reason)
    on_error : {"raise", "warn", "nan"}
        Under ``"raise"`` the first failure has already been raised where it happened;
        a failure left here is raised as a ``ValueError``.
    """
    frame = pd.DataFrame(failures, columns=["index", "sample", "reason"])
    if failures and on_error == "raise":
        index, sample, reason = failures[0]
        raise ValueError(f"{sample}: {reason}. {KEEP_GOING}")
    if failures and on_error == "warn":
        listed = "; ".join(f"{s}: {r}" for _, s, r in failures[:5])
        more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
        warn_at_caller(
            f"{len(failures)} of the samples failed and are NaN rows: {listed}{more}", SampleFailure
        )
    return frame


__all__ = [
    "KEEP_GOING",
    "ON_ERROR",
    "SAMPLE_ERRORS",
    "ModelFileError",
    "SampleFailure",
    "apply_policy",
    "caller_stacklevel",
    "describe_sample",
    "raise_sample_error",
    "warn_at_caller",
]
