"""The ``on_error`` policy: what a batch does with a sample it cannot process."""

from __future__ import annotations

import warnings

import pandas as pd

from ..exceptions import FaceNotFoundError, ImageReadError, ModelFileError

ON_ERROR = ("raise", "warn", "nan")
SAMPLE_ERRORS = (FaceNotFoundError, ImageReadError)


class SampleFailure(UserWarning):
    """Issued when ``on_error="warn"`` turns a failed sample into a row of NaN."""


def describe_sample(item, index: int) -> str:
    """How to name a sample in a message: its path if it has one, else its index."""
    if isinstance(item, str) or hasattr(item, "__fspath__"):
        return f"sample {index} ({item})"
    return f"sample {index}"


def apply_policy(failures: list[tuple[int, str, str]], on_error: str) -> pd.DataFrame:
    """Raise, warn or stay quiet about failed samples; return them as a frame.

    Parameters
    ----------
    failures : list of (index, sample description, reason)
    on_error : {"raise", "warn", "nan"}
    """
    frame = pd.DataFrame(failures, columns=["index", "sample", "reason"])
    if failures and on_error == "raise":
        index, sample, reason = failures[0]
        more = f" ({len(failures) - 1} more samples failed)" if len(failures) > 1 else ""
        raise ValueError(f"{sample}: {reason}{more}. Pass on_error='warn' or 'nan' to keep going.")
    if failures and on_error == "warn":
        listed = "; ".join(f"{s}: {r}" for _, s, r in failures[:5])
        more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
        warnings.warn(
            f"{len(failures)} of the samples failed and are NaN rows: {listed}{more}",
            SampleFailure,
            stacklevel=3,
        )
    return frame


__all__ = ["ON_ERROR", "SAMPLE_ERRORS", "ModelFileError", "SampleFailure", "apply_policy", "describe_sample"]
