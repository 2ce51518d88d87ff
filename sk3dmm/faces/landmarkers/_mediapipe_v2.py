"""MediaPipe's Face Landmarker v2: BlazeFace, the 478-point mesh and the 52 blendshape scores.

The networks of MediaPipe's ``face_landmarker.task`` bundle (Apache-2.0, converted by
``tools/convert_mediapipe.py``); the steps follow MediaPipe's face-landmarker graph for still
images (``mediapipe/tasks/cc/vision/face_landmarker``):

1. detection as in :mod:`._mediapipe` (the bundle's detector is the same BlazeFace network, with
   the same weights: the converter checks it);
2. the ROI is the detection box enlarged 1.5x to a square, eyes level, resampled to 256 x 256;

   both resamplings (the letterbox for the detector and the ROI) are MediaPipe's own, OpenCV's
   bilinear warp on uint8 (:func:`~sk3dmm.faces._crop.sample_opencv`): the blendshape scores
   move by about 0.1 per pixel of landmark error, so the points must match MediaPipe's to a
   fraction of a pixel (they do: 0.003 px on the astronaut, tests/test_mediapipe_v2.py);
3. the landmark network gives 478 points: MediaPipe's 468-point topology, then five points of
   each iris (468-472 the subject's right... as MediaPipe numbers them), and a face probability;
4. the blendshape network (an MLP-Mixer, trained by Google on real faces) reads x, y of 146 of
   those points in the photo's pixels and gives 52 scores in [0, 1]: ``_neutral`` and ARKit's
   blendshapes, the subject's own left and right (:data:`MEDIAPIPE_BLENDSHAPES`).

Each :class:`~sk3dmm.faces.Face` has scheme ``"mediapipe478"`` and carries the scores in
``extras["blendshape_scores"]`` (52,) beside ``extras["mesh_score"]``.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numpy as np
import torch

from .._blendshape_names import BLENDSHAPE_INPUT_POINTS, MEDIAPIPE_BLENDSHAPES
from .._crop import Crop, sample_opencv
from ._litert import litert_graph, network_runtime
from ._mediapipe import DATA_DIR, DETECTOR_FILE, MediaPipeFaceMesh, MediaPipeLandmarker, runtime_suffix
from ._tflite_graph import NativeLayoutGraph

MESH_V2_FILE = "mediapipe_v2_face_landmarks.pt"
BLENDSHAPES_FILE = "mediapipe_v2_face_blendshapes.pt"


class MediaPipeFaceLandmarkerV2(MediaPipeFaceMesh):
    """BlazeFace, the 478-point mesh and the blendshape scores, batched, on CPU or CUDA.

    Parameters are those of :class:`~sk3dmm.faces.MediaPipeFaceMesh`.

    Examples
    --------
    >>> import skimage.data
    >>> face = MediaPipeFaceLandmarkerV2().detect([skimage.data.astronaut()])[0][0]
    >>> face.points.shape, face.extras["blendshape_scores"].shape
    ((478, 3), (52,))
    """

    mesh_file = MESH_V2_FILE
    mesh_size = 256
    n_points = 478
    scheme = "mediapipe478"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.blendshape_net = _blendshape_graph(str(self.device))

    def _letterbox(self, image: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """The photo padded to a square and warped to 128 x 128 as MediaPipe does (zeros
        outside), values in [-1, 1], and (scale x, scale y, pad x, pad y) from photo to input."""
        h, w = image.shape[:2]
        side = float(max(h, w))
        small = sample_opencv(image, (w / 2, h / 2), (side, side), 0.0, 128, border="zero")
        x = torch.from_numpy(small.astype(np.float32) / 127.5 - 1.0).to(self.device)
        scale = 128.0 / side
        return x, np.array([scale, scale, 64 - w / 2 * scale, 64 - h / 2 * scale], dtype=np.float64)

    def _sample(self, image: np.ndarray, roi: Crop) -> torch.Tensor:
        crop = sample_opencv(image, roi.centre, roi.side, roi.rotation, roi.size)
        return torch.from_numpy(crop.astype(np.float32) / 255.0).to(self.device)

    @torch.no_grad()
    def blendshapes(self, meshes: np.ndarray) -> np.ndarray:
        """(n, 52) scores of meshes (n, 478, >=2) given in photo pixels."""
        if len(meshes) == 0:
            return np.zeros((0, len(MEDIAPIPE_BLENDSHAPES)), dtype=np.float32)
        points = torch.as_tensor(
            np.asarray(meshes)[:, BLENDSHAPE_INPUT_POINTS, :2], dtype=torch.float32, device=self.device
        )
        return self.blendshape_net(points)[0].cpu().numpy()

    def _extras(self, meshes: np.ndarray, mesh_scores: np.ndarray, rois: list[Crop]) -> list[dict]:
        upright = np.stack([_upright(m, roi.rotation) for m, roi in zip(meshes, rois)]) if rois else meshes
        scores = self.blendshapes(upright)
        return [{"mesh_score": float(ms), "blendshape_scores": s} for ms, s in zip(mesh_scores, scores)]


def _upright(mesh: np.ndarray, rotation: float) -> np.ndarray:
    """The points turned back by the quarter turn nearest the face's roll (``rotation``,
    radians): the blendshape network reads x, y as they lie in the photo and was made for
    upright faces, so a face in a photo turned by 90 or 180 degrees is read as if the photo
    were upright (its scores then move by 0.16 at most, not 0.48, on the astronaut). A face
    within 45 degrees of upright is read as it is, exactly as MediaPipe does."""
    quarter = round(rotation / (math.pi / 2)) % 4
    if quarter == 0:
        return mesh
    out = np.array(mesh, dtype=np.float64)
    c, s = math.cos(quarter * math.pi / 2), math.sin(quarter * math.pi / 2)
    centre = out[:, :2].mean(0)
    d = out[:, :2] - centre
    out[:, :2] = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], -1) + centre
    return out


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _blendshape_graph_unlocked(device: str) -> NativeLayoutGraph:
    from ...exceptions import ModelFileError
    from ...morphable._files import load_checkpoint, verified_path

    path = verified_path(DATA_DIR / BLENDSHAPES_FILE, DATA_DIR / BLENDSHAPES_FILE.replace(".pt", ".sha256"))
    payload = load_checkpoint(path, "MediaPipe blendshape network")
    try:
        return NativeLayoutGraph(payload).eval().to(device)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a converted TensorFlow Lite graph ({exc})") from exc


def _blendshape_graph(device: str) -> NativeLayoutGraph:
    if network_runtime(BLENDSHAPES_FILE, device) == "litert":
        return litert_graph(BLENDSHAPES_FILE, DATA_DIR)
    with _lock:
        return _blendshape_graph_unlocked(device)


V2_FILES = (DETECTOR_FILE, MESH_V2_FILE, BLENDSHAPES_FILE)


def default_face_landmarker_v2() -> MediaPipeFaceLandmarkerV2:
    """The v2 landmarker ``detector="mediapipe_v2"`` uses (CPU), on the runtime
    ``SK3DMM_NETWORK_RUNTIME`` chooses now."""
    return _v2_for(runtime_suffix(*V2_FILES))


@lru_cache(maxsize=2)
def _v2_for(runtime: str) -> MediaPipeFaceLandmarkerV2:
    return MediaPipeFaceLandmarkerV2()


class MediaPipeV2Landmarker(MediaPipeLandmarker):
    """MediaPipe's Face Landmarker v2 (embedded, in torch): 478 points and 52 blendshape
    scores; built and called as :class:`~._mediapipe.MediaPipeLandmarker`."""

    scheme = "mediapipe478"
    gives_blendshapes = True

    @property
    def key(self) -> str:
        return "mediapipe-blazeface-short-mesh478-blendshapes52" + runtime_suffix(*V2_FILES)

    def detect(self, image: np.ndarray) -> list:
        """Every face of an RGB uint8 photo with its 478 points and scores, best score first."""
        return default_face_landmarker_v2().detect([image])[0]
