"""TorchScript versions of the fit's hot loops, compiled once per process."""

from __future__ import annotations

import threading
import warnings

import torch

_lock = threading.Lock()
_compiled: dict = {}


def scripted(fn):
    """``torch.jit.script(fn)``, made once (under a lock: joblib's threads may ask at once).

    torch 2.13 deprecates ``torch.jit.script`` with a ``DeprecationWarning`` on every call; it
    is silenced here, where sk3dmm makes the call, so that a program run with warnings as
    errors does not fail on its first fit, whichever call comes first."""
    with _lock:
        if fn not in _compiled:
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=r".*torch\.jit\.script", category=DeprecationWarning
                )
                _compiled[fn] = torch.jit.script(fn)
        return _compiled[fn]
