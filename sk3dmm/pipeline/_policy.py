"""The ``on_error`` policy applied to every stage, per photo: a photo that fails at any stage drops
out with its reason (or, under ``"raise"``, stops the batch with a typed error naming it); the
others go on."""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from joblib import Parallel, delayed, effective_n_jobs
from joblib.parallel import LokyBackend, get_active_backend

from ..exceptions import ModelFileError, ReconstructionError
from ..faces import network_threads
from ._errors import SAMPLE_ERRORS, apply_policy, raise_sample_error
from ._records import Failure

STAGE_ERRORS = (RuntimeError, ValueError, ArithmeticError)


class ErrorPolicy:
    """Collects the :class:`Failure` of each photo, or raises the first under ``"raise"``.

    Parameters
    ----------
    on_error : {"raise", "warn", "nan"}
    n_jobs : int or None, joblib workers of the per-photo stages
    """

    def __init__(self, on_error: str = "raise", n_jobs: int | None = None):
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.failures: list[Failure] = []

    @property
    def raises(self) -> bool:
        return self.on_error == "raise"

    def fail(self, index: int, name: str, stage: str, exc: BaseException) -> None:
        """Record that ``stage`` failed for a photo (a typed sample error is raised at once
        under ``"raise"``)."""
        if isinstance(exc, ModelFileError):
            raise exc
        if not isinstance(exc, SAMPLE_ERRORS):
            exc = ReconstructionError(f"{name}: {stage} failed ({type(exc).__name__.lstrip('_')}: {exc})")
        if self.raises:
            raise_sample_error(exc)
        self.failures.append(Failure(index, name, stage, str(exc).removeprefix(f"{name}: "), exc))

    def each(self, step, items: dict[int, tuple], names: dict[int, str]) -> dict[int, object]:
        """``step(*args)`` for each photo, in joblib workers (threads unless a backend says
        otherwise); the photos whose step raised are failed."""
        threads = _network_threads(self.n_jobs)
        try:
            with network_threads(threads), one_torch_thread():  # each worker's: one (a process sets its own)
                out = in_workers(self.n_jobs, _guarded_call, [(step, args, self.raises) for args in items.values()])
        except SAMPLE_ERRORS as exc:
            raise_sample_error(exc)
        done = {}
        for i, value in zip(items, out):
            if isinstance(value, _Raised):
                self.fail(i, names[i], step.name, value.exc)
            else:
                done[i] = value
        return done

    def batched(self, step, items: dict[int, tuple], names: dict[int, str]) -> dict[int, object]:
        """``step(list of args)`` for the photos together; when the batch raises, each photo is
        run alone so that only those that fail drop out, and a photo whose output is not
        finite fails too."""
        if not items:
            return {}
        try:
            out = step(list(items.values()))
        except STAGE_ERRORS as exc:
            if isinstance(exc, ModelFileError) or len(items) == 1:
                only = next(iter(items))
                self.fail(only, names[only], step.name, exc)
                return {}
            return {i: v for j in items for i, v in self.batched(step, {j: items[j]}, names).items()}
        done = {}
        for i, value in zip(items, out):
            if _finite(value):
                done[i] = value
            else:
                reason = f"{names[i]}: {step.name} gave non-finite values"
                self.fail(i, names[i], step.name, ReconstructionError(reason))
        return done

    def frame(self) -> pd.DataFrame:
        """The failures as ``index, sample, reason, stage`` (warned once under ``"warn"``)."""
        if not self.failures:  # the usual case; a new empty frame costs half a millisecond
            return _no_failures().copy()
        failures = sorted(self.failures, key=lambda f: f.index)
        frame = apply_policy([(f.index, f.name, f.reason) for f in failures], self.on_error)
        frame["stage"] = [f.stage for f in failures]
        return frame


@functools.cache
def _no_failures() -> pd.DataFrame:
    frame = apply_policy([], "nan")
    frame["stage"] = []
    return frame


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


def _guarded_call(step, args: tuple, raises: bool):
    """A worker's call: its exception comes back as a value (so one photo cannot stop a
    batch), except a typed sample error under ``"raise"``, which stops the rest."""
    try:
        return step(*args)
    except (*STAGE_ERRORS, *SAMPLE_ERRORS) as exc:
        if isinstance(exc, ModelFileError) or raises and isinstance(exc, SAMPLE_ERRORS):
            raise
        return _Raised(exc)


def _finite(value) -> bool:
    fields = value.__dict__.values() if hasattr(value, "__dict__") else [value]
    arrays = [np.asarray(v) for v in fields if isinstance(v, (np.ndarray, float))]
    return all(np.isfinite(a).all() for a in arrays if a.dtype.kind == "f")


def in_workers(n_jobs: int | None, fn, calls: list[tuple]) -> list:
    """``[fn(*args) for args in calls]`` in joblib's workers (threads unless a backend says
    otherwise); in this thread, without joblib's set-up (a tenth of a millisecond a call),
    where joblib would run them one after another here anyway."""
    if effective_n_jobs(n_jobs) == 1 and not caller_backend():
        return [fn(*args) for args in calls]
    return Parallel(n_jobs=n_jobs, prefer="threads")(delayed(fn)(*args) for args in calls)


def caller_backend() -> bool:
    """Whether the caller set a joblib backend (e.g. dask's) for this thread: joblib's default
    is loky."""
    return not isinstance(get_active_backend()[0], LokyBackend)


def _network_threads(n_jobs: int | None) -> int:
    """Threads of each LiteRT call of a stage (:func:`~sk3dmm.faces.network_threads`; the same
    bits on any count): the torch threads of the calling thread (sized to the cores, or by a
    joblib worker process's limit) where the stage runs alone in the main thread, else one
    (workers of ``n_jobs``, or the thread that prepares the next batch while this one is
    fitted, share the cores)."""
    if effective_n_jobs(n_jobs) != 1 or threading.current_thread() is not threading.main_thread():
        return 1
    with _threads_lock:
        return torch.get_num_threads() if _threads_users == 0 else 1


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 1


@contextmanager
def one_torch_thread():
    """Run torch on one thread inside (re-entrant, and safe for threads that overlap: the
    thread count is restored when the last one leaves). float32 networks give other last
    bits on other thread counts (up to 4e-7 for the mesh network, measured), and a joblib
    worker gets fewer threads than the main process, so detection on one thread gives every
    photo the same points for every ``n_jobs``."""
    global _threads_users, _threads_before
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)
