"""Per-image results cached by content, shared by every estimator instance in the process.

Cross-validation clones the transformer for each fold; keying results by the image's bytes
and the settings that affect them (not by estimator instance) means R-Net or landmark
fitting runs once per image, not once per fold.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np


def image_digest(image: np.ndarray) -> str:
    """A stable key for an image's content (dtype, shape and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str((image.dtype.str, image.shape)).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def settings_digest(settings: dict) -> str:
    """A stable key for the settings a result depends on."""
    return hashlib.blake2b(repr(sorted(settings.items())).encode(), digest_size=16).hexdigest()


class ResultCache:
    """A thread-safe LRU mapping of (image digest, settings digest) to a result."""

    def __init__(self, max_items: int = 200_000) -> None:
        self.max_items = max_items
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
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
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_items:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


RESULTS = ResultCache()


def clear_cache() -> None:
    """Forget every cached per-image result (e.g. to time a cold run)."""
    RESULTS.clear()
