"""MediaPipe's face networks on Google's LiteRT runtime (XNNPACK), where ``ai-edge-litert`` is
installed: the same ``.tflite`` files the torch graphs were converted from, run by the runtime
they were made for (on 2 cores, one thread: the 478-point mesh in 5.7 ms instead of 11.5 ms,
BlazeFace 1.3 instead of 3.0, the blendshape network 0.9 instead of 4.0;
``benchmarks/bench_speed.py``). A call runs on one thread, or on as many as
:func:`network_threads` gives the calling thread (the same bits: XNNPACK splits a layer's
outputs between its threads, never a sum).

Which runtime runs them: ``SK3DMM_NETWORK_RUNTIME`` = ``"auto"`` (the default: LiteRT on CPU
where it is installed, torch otherwise), ``"torch"`` or ``"litert"``. CUDA always runs torch.
Both give MediaPipe's outputs to float32 rounding (tests/test_litert.py); the landmarker keys
name the runtime, so cached results of one are never read as the other's.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import sys
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ...exceptions import ModelFileError

RUNTIME_VARIABLE = "SK3DMM_NETWORK_RUNTIME"
RUNTIMES = ("auto", "torch", "litert")
# the converted torch graph -> the .tflite file it came from (shipped beside it)
TFLITE_OF = {
    "mediapipe_face_detection_short_range.pt": "mediapipe_face_detection_short_range.tflite",
    "mediapipe_v2_face_landmarks.pt": "mediapipe_v2_face_landmarks.tflite",
    "mediapipe_v2_face_blendshapes.pt": "mediapipe_v2_face_blendshapes.tflite",
}


def litert_installed() -> bool:
    """Whether ``ai_edge_litert`` can be imported (without importing it)."""
    return importlib.util.find_spec("ai_edge_litert") is not None


def network_runtime(graph_file: str, device: str) -> str:
    """``"litert"`` or ``"torch"``: the runtime that runs the converted graph ``graph_file`` on
    ``device``, as ``SK3DMM_NETWORK_RUNTIME`` asks."""
    wanted = os.environ.get(RUNTIME_VARIABLE, "auto").strip().lower() or "auto"
    if wanted not in RUNTIMES:
        raise ValueError(f"{RUNTIME_VARIABLE}={wanted!r}: expected one of {', '.join(RUNTIMES)}")
    if wanted == "torch" or graph_file not in TFLITE_OF or torch.device(device).type != "cpu":
        return "torch"
    if wanted == "litert" and not litert_installed():
        raise ImportError(f"{RUNTIME_VARIABLE}=litert needs ai-edge-litert: pip install 'sk3dmm[litert]'")
    return "litert" if litert_installed() else "torch"


_local = threading.local()


@contextmanager
def network_threads(n: int):
    """LiteRT calls made by this thread inside run on ``n`` threads (elsewhere on one: workers
    of ``n_jobs`` share the cores, as the torch graphs do under
    :func:`~sk3dmm.pipeline._policy.one_torch_thread`). Re-entrant."""
    before = getattr(_local, "threads", 1)
    _local.threads = max(1, int(n))
    try:
        yield
    finally:
        _local.threads = before


class LiteRTGraph:
    """A ``.tflite`` file called as the converted torch graph is: NHWC (or the file's layout)
    float32 batch in, the file's outputs with a batch axis out, as torch tensors.

    One interpreter is not safe to share between threads, so each call borrows one from a
    free list of interpreters of its thread count (:func:`network_threads`; made when none is
    free: as many as calls ever ran at once, kept for the next ones, whatever threads make
    them).
    """

    def __init__(self, path: Path):
        self.path = path
        self._free: dict[int, queue.SimpleQueue] = {}
        self._free_lock = threading.Lock()
        self._free_list(1).put(self._new_interpreter(1))  # a corrupt file fails here, not in a detection

    def _free_list(self, threads: int) -> queue.SimpleQueue:
        with self._free_lock:
            return self._free.setdefault(threads, queue.SimpleQueue())

    def _new_interpreter(self, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        try:
            it = Interpreter(model_path=str(self.path), num_threads=threads)
            with _quiet_stderr():  # LiteRT's C++ "INFO: Created ... XNNPACK delegate" line
                it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{self.path}: LiteRT cannot load it ({exc})") from exc
        return it, it.get_input_details()[0], [o["index"] for o in it.get_output_details()], threads

    @property
    def input_size(self) -> tuple[int, int]:
        it = self._borrow()
        try:
            return tuple(int(v) for v in it[1]["shape"][1:3])
        finally:
            self._free_list(it[3]).put(it)

    def _borrow(self):
        threads = getattr(_local, "threads", 1)
        try:
            return self._free_list(threads).get_nowait()
        except queue.Empty:
            return self._new_interpreter(threads)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        batch = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        borrowed = self._borrow()
        it, inputs, outputs, threads = borrowed
        try:
            per_item = []
            for item in batch:
                it.set_tensor(inputs["index"], item[None])
                it.invoke()
                per_item.append([it.get_tensor(o).copy() for o in outputs])
        finally:
            self._free_list(threads).put(borrowed)
        if not per_item:
            return [torch.zeros(0) for _ in outputs]
        # outputs of a batch of one, without their batch axis (the blendshape file has none)
        return [
            torch.from_numpy(np.stack([p[k][0] if p[k].ndim > 1 else p[k] for p in per_item]))
            for k in range(len(outputs))
        ]


_lock = threading.Lock()
_stderr_lock = threading.Lock()


@contextmanager
def _quiet_stderr():
    """File descriptor 2 sent to /dev/null inside (the runtime's C++ log writes there
    directly); Python's own ``sys.stderr`` is flushed first and restored after."""
    with _stderr_lock:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@lru_cache(maxsize=8)
def _litert_graph_unlocked(graph_file: str, data_dir: str) -> LiteRTGraph:
    from ...morphable._files import verified_path

    name = TFLITE_OF[graph_file]
    folder = Path(data_dir)
    return LiteRTGraph(verified_path(folder / name, folder / f"{name}.sha256"))


def litert_graph(graph_file: str, data_dir: Path) -> LiteRTGraph:
    """The LiteRT runner of the ``.tflite`` file behind ``graph_file`` (checked against its
    shipped SHA-256), one per process."""
    with _lock:
        return _litert_graph_unlocked(graph_file, str(data_dir))
