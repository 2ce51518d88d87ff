"""Per-stage results cached by content: in this process (bounded), and optionally on disk.

Cross-validation clones the transformer for each fold; keying results by the image's bytes
and the settings that affect them (not by estimator instance) means R-Net or landmark
fitting runs once per image, not once per fold. Each stage's key is chained from the one
upstream (photo digest -> detection -> crop -> each regressor), so a change of fitting
settings reuses the photo's detection, crop and R-Net output. The in-process cache holds at most
``cache_memory_limit_mb()`` megabytes (default 512, about 12,000 photos with their face crops;
:func:`set_cache_memory_limit` changes it). A folder passed as ``Reconstruct3DMM(cache=folder)`` is
shared by every process that is given it: GridSearchCV's workers, later runs, other users
of the same data.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

DEFAULT_MEMORY_MB = 512.0


def image_digest(image: np.ndarray) -> str:
    """A stable key for an image's content (dtype, shape and bytes): SHA-256, which CPUs with
    SHA extensions hash at about 2 GB/s (BLAKE2b: 0.7 GB/s, 2.7 ms for a 675 x 900 photo)."""
    h = hashlib.sha256(str((image.dtype.str, image.shape)).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()[:32]


def settings_digest(settings: dict) -> str:
    """A stable key for the settings a result depends on (the package version included, so an
    upgrade never reads results of older code)."""
    from .. import __version__

    items = sorted({**settings, "sk3dmm": __version__}.items())
    return hashlib.blake2b(repr(items).encode(), digest_size=16).hexdigest()


def approximate_nbytes(value, depth: int = 2) -> int:
    """Bytes held by a result: its arrays (also those of the records and dicts it holds, two
    levels down), plus a small constant for the rest."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if depth < 0:
        return 0
    if isinstance(value, dict):
        fields = list(value.values())
    else:
        fields = list(getattr(value, "__dict__", {}).values())
    return sum(approximate_nbytes(v, depth - 1) for v in fields) + 1024 + sys.getsizeof(value)


class ResultCache:
    """A thread-safe LRU mapping of (image digest, settings digest) to a result, bounded in bytes."""

    def __init__(self, max_mb: float = DEFAULT_MEMORY_MB) -> None:
        self.max_bytes = int(max_mb * 2**20)
        self._data: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key, value) -> None:
        size = approximate_nbytes(value)
        with self._lock:
            if key in self._data:
                self.nbytes -= self._sizes[key]
            self._data[key] = value
            self._sizes[key] = size
            self.nbytes += size
            self._data.move_to_end(key)
            self._evict()

    def _evict(self) -> None:
        while self._data and self.nbytes > self.max_bytes:
            key, _ = self._data.popitem(last=False)
            self.nbytes -= self._sizes.pop(key)

    def resize(self, max_mb: float) -> None:
        with self._lock:
            self.max_bytes = int(max_mb * 2**20)
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._sizes.clear()
            self.nbytes = self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


class DiskCache:
    """Results pickled under ``folder/<settings digest>/<image digest>.pkl``.

    Writes are atomic (a temporary file renamed into place), so parallel workers never read
    half a file; an unreadable entry counts as a miss and is rewritten. Pickles run code when
    loaded: point the cache only at folders you trust, as with ``joblib.Memory``.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def _path(self, key: tuple[str, str]) -> Path:
        image, settings = key
        return self.folder / settings / f"{image}.pkl"

    def get(self, key):
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                value = pickle.load(f)
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:  # truncated or foreign file: recompute and overwrite
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key, value) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


RESULTS = ResultCache()


def result_caches(cache) -> list:
    """The cache layers a ``cache=`` parameter asks for, fastest first: ``True`` or
    ``"memory"``: this process's; a folder: this process's, then the folder; ``False``: none."""
    if cache is False:
        return []
    if cache is True or cache == "memory":
        return [RESULTS]
    return [RESULTS, DiskCache(cache)]


@functools.lru_cache(maxsize=256)
def _stage_digest(step_key: str) -> str:
    """:func:`settings_digest` of a stage's key (the same few keys, every batch)."""
    return settings_digest({"stage": step_key})


def chain_key(upstream: str, stage_key: str) -> str:
    """The key of a stage's result: its input's key and the stage's settings."""
    return hashlib.blake2b(f"{upstream}|{stage_key}".encode(), digest_size=16).hexdigest()


class StageCache:
    """The cache layers of one ``transform``, and how many results each stage computed and
    found (``computed`` and ``reused``, by stage name and key), for tests and benchmarks."""

    def __init__(self, layers: list) -> None:
        self.layers = layers
        self.computed: dict[tuple[str, str], int] = {}
        self.reused: dict[tuple[str, str], int] = {}
        self.seconds: dict[tuple[str, str], float] = {}

    def stats(self):
        """A DataFrame of each stage (by its key) with the photos it ``computed`` and ``reused``,
        and the wall-clock ``seconds`` it spent computing them (cache look-ups excluded)."""
        return self.frame(*self.counts())

    def counts(self) -> tuple[dict, dict, dict]:
        """Copies of ``computed``, ``reused`` and ``seconds`` (small: what :meth:`frame` reads)."""
        return dict(self.computed), dict(self.reused), dict(self.seconds)

    @staticmethod
    def frame(computed: dict, reused: dict, seconds: dict):
        """:meth:`stats` of these counts."""
        import pandas as pd

        stages = list(dict.fromkeys([*computed, *reused]))
        return pd.DataFrame(
            {
                "stage": [s[0] for s in stages],
                "key": [s[1] for s in stages],
                "computed": [computed.get(s, 0) for s in stages],
                "reused": [reused.get(s, 0) for s in stages],
                "seconds": [seconds.get(s, 0.0) for s in stages],
            }
        )

    def photo_keys(self, photos: dict) -> dict[int, str]:
        """The first keys of a chain: each :class:`~sk3dmm.pipeline.Photo`'s digest, or (without
        layers, where :meth:`run` makes no keys) an empty string, the digest not made."""
        return {i: photo.digest if self.layers else "" for i, photo in photos.items()}

    def _count(self, step, step_key: str, reused: int, computed: int, seconds: float) -> None:
        name = (step.name, step_key)
        self.reused[name] = self.reused.get(name, 0) + reused
        self.computed[name] = self.computed.get(name, 0) + computed
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def _computed_alone(self, step, step_key: str, keys: dict[int, str], compute) -> tuple[dict, dict[int, str]]:
        """:meth:`run` without layers: every photo computed, the keys passed on as they came."""
        started = time.perf_counter()
        made = compute(list(keys)) if keys else {}
        self._count(step, step_key, 0, len(made), time.perf_counter() - started)
        return made, {i: keys[i] for i in made}

    def run(self, step, keys: dict[int, str], compute) -> tuple[dict, dict[int, str]]:
        """``step``'s result for each photo of ``keys`` (their upstream keys): cached ones
        looked up, the others from ``compute(list of photo indices)`` (a dict of the results
        it could make) and stored. Returns the results and their keys, for the next stage."""
        step_key = step.key
        if not self.layers:  # nothing to look up or keep: no keys to make
            return self._computed_alone(step, step_key, keys, compute)
        stage = _stage_digest(step_key)
        mine = {i: chain_key(k, stage) for i, k in keys.items()}
        found = {}
        for i, key in mine.items():
            hit = _first_hit(self.layers, (key, stage))
            if hit is not None:
                found[i] = hit
        todo = [i for i in mine if i not in found]
        started = time.perf_counter()
        made = compute(todo) if todo else {}
        elapsed = time.perf_counter() - started
        for i, value in made.items():
            for layer in self.layers:
                layer.put((mine[i], stage), value)
        self._count(step, step_key, len(found), len(made), elapsed)
        out = {i: found[i] if i in found else made[i] for i in mine if i in found or i in made}
        return out, {i: mine[i] for i in out}


def _first_hit(layers: list, key):
    """The first layer that has ``key``; a disk hit is copied into the faster layers."""
    for depth, layer in enumerate(layers):
        value = layer.get(key)
        if value is not None:
            for faster in layers[:depth]:
                faster.put(key, value)
            return value
    return None


def set_cache_memory_limit(megabytes: float) -> None:
    """Bound the in-process result cache (default 512 MB); older results are dropped first."""
    if not megabytes >= 0:
        raise ValueError(f"megabytes must be >= 0, got {megabytes!r}")
    RESULTS.resize(megabytes)


def cache_memory_limit_mb() -> float:
    """The in-process cache's current bound in megabytes."""
    return RESULTS.max_bytes / 2**20


def clear_cache() -> None:
    """Forget every per-image result cached in this process (e.g. to time a cold run); a
    cache folder is left alone (delete it to clear it)."""
    RESULTS.clear()
