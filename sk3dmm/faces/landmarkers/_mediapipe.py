"""MediaPipe's face detector (BlazeFace, short range) and 468-point face mesh, in torch.

The networks are MediaPipe's own (Apache-2.0, converted by ``tools/convert_mediapipe.py`` and run
by :class:`~sk3dmm.faces._tflite_graph.TFLiteGraph`); the steps around them follow MediaPipe's
face-mesh graph for still images:

1. the photo is letterboxed to 128 x 128 (values in [-1, 1]) and BlazeFace scores 896 anchors;
   boxes and six keypoints are decoded and merged by weighted non-maximum suppression;
2. each face's region of interest is the detection box enlarged 1.5x to a square, rotated so
   that the eyes are level;
3. that region is resampled to 192 x 192 (values in [0, 1]) and the landmark network returns
   468 points (x, y and a relative depth z, all in pixels of the crop) and a face score;
4. the points are mapped back to the photo's pixels (z scaled like x).

Why the 468-point network and not the 478-point one with irises: it uses only standard layers,
so it runs exactly (parity-tested) in plain torch; the ten iris points add nothing to a 3DMM
fit, whose eyes do not rotate.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ...exceptions import ModelFileError
from .._crop import Crop, sample_bilinear
from .._face import Face
from ._litert import litert_graph, network_runtime
from ._tflite_graph import TFLiteGraph

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DETECTOR_FILE = "mediapipe_face_detection_short_range.pt"
MESH_FILE = "mediapipe_face_landmark.pt"


def _load_graph(name: str) -> TFLiteGraph:
    from ...morphable._files import load_checkpoint, verified_path

    path = verified_path(DATA_DIR / name, DATA_DIR / name.replace(".pt", ".sha256"))
    payload = load_checkpoint(path, "MediaPipe network")
    try:
        return TFLiteGraph(payload).eval()
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a converted TensorFlow Lite graph ({exc})") from exc


def _anchors() -> np.ndarray:
    """BlazeFace short-range anchors (896, 2): centres in [0, 1], fixed size 1."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        c = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], -1).reshape(-1, 2)
        centres.append(np.repeat(c, per_cell, axis=0))
    return np.concatenate(centres)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, points: np.ndarray, iou_threshold: float = 0.3):
    """MediaPipe's weighted non-maximum suppression.

    Parameters
    ----------
    boxes : (n, 4) x0, y0, x1, y1; scores : (n,); points : (n, k, 2)

    Returns
    -------
    list of (box (4,), score, points (k, 2)): each cluster of boxes overlapping its best one by
    more than ``iou_threshold`` is averaged, weighted by score; the score is the best one's.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, scores, points = boxes[order], scores[order], points[order]
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    remaining = np.ones(len(boxes), dtype=bool)
    out = []
    for i in range(len(boxes)):
        if not remaining[i]:
            continue
        lt = np.maximum(boxes[i, :2], boxes[:, :2])
        rb = np.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = np.clip(rb - lt, 0, None).prod(-1)
        iou = inter / np.maximum(area[i] + area - inter, 1e-12)
        cluster = remaining & (iou > iou_threshold)
        cluster[i] = True
        w = scores[cluster][:, None]
        out.append(
            (
                (boxes[cluster] * w).sum(0) / w.sum(),
                float(scores[i]),
                (points[cluster] * w[..., None]).sum(0) / w.sum(),
            )
        )
        remaining &= ~cluster
    return out


RETRY_SCORE = 0.75  # upright faces of AFLW2000-3D and the astronaut score 0.8-0.95; upside-down 0.57


def _unturn(points: np.ndarray, turns: int, size: float = 128.0) -> np.ndarray:
    """Points (..., 2) of a square image turned ``turns`` quarter turns by ``torch.rot90``
    (dims 0, 1) back in the unturned image (continuous pixels, edges at integers)."""
    out = np.asarray(points, dtype=np.float64)
    for _ in range(turns % 4):  # rot90: out[i, j] = in[j, size - 1 - i], so (x, y) <- (size - y, x)
        out = np.stack([size - out[..., 1], out[..., 0]], -1)
    return out


def _eye_angle(keypoints: np.ndarray) -> float:
    """Degrees from level of the line from the right eye (photo left) to the left eye."""
    d = keypoints[1] - keypoints[0]
    return math.degrees(math.atan2(d[1], d[0]))


def _needs_other_orientations(faces: list[tuple]) -> bool:
    if not faces:
        return True
    _, score, points = max(faces, key=lambda f: f[1])
    return score < RETRY_SCORE or abs(_eye_angle(points)) > 45.0


def _best_orientation(per_turn: list[list[tuple]], iou_threshold: float = 0.3) -> list[tuple]:
    """Faces of all orientations, best score first; a face found in several orientations
    (boxes overlapping by more than ``iou_threshold``) keeps its best-scoring one."""
    faces = sorted((f for faces in per_turn for f in faces), key=lambda f: -f[1])
    kept: list[tuple] = []
    for face in faces:
        if all(_iou(face[0], other[0]) <= iou_threshold for other in kept):
            kept.append(face)
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    union = np.clip(a[2:] - a[:2], 0, None).prod() + np.clip(b[2:] - b[:2], 0, None).prod() - inter
    return float(inter / max(union, 1e-12))


class MediaPipeFaceMesh:
    """BlazeFace detection and the 468-point mesh on RGB photos, batched, on CPU or CUDA.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
    min_score : float, default=0.5
        Detector score threshold (MediaPipe's default).
    max_faces : int or None, default=None
        Keep at most this many faces per photo (best scores first).
    min_mesh_score : float, default=0.1
        Faces whose landmark network gives a face probability below this are dropped (the
        detector alone fires on some textures; the mesh network then says "no face").
    refine : int, default=0
        Extra passes of the landmark network on the region found by the previous pass (MediaPipe's
        tracking step, here on still photos); 0 uses the detector's region only.

    Examples
    --------
    >>> import skimage.data
    >>> faces = MediaPipeFaceMesh().detect([skimage.data.astronaut()])[0]
    >>> len(faces), faces[0].mesh.shape
    (1, (468, 3))
    """

    mesh_file = MESH_FILE
    mesh_size = 192  # pixels of the landmark network's square input
    n_points = 468
    scheme = "mediapipe468"

    def __init__(
        self,
        device: str | torch.device = "cpu",
        min_score: float = 0.5,
        max_faces: int | None = None,
        refine: int = 0,
        min_mesh_score: float = 0.1,
    ):
        self.device = torch.device(device)
        self.refine = refine
        self.min_mesh_score = min_mesh_score
        self.min_score = min_score
        self.max_faces = max_faces
        self.detector = _cached_graph(DETECTOR_FILE, str(self.device))
        self.landmarker = _cached_graph(self.mesh_file, str(self.device))
        self.anchors = _anchors()

    # -- detection -----------------------------------------------------------------------
    def _letterbox(self, image: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """(128, 128, 3) input in [-1, 1] and (scale x, scale y, pad x, pad y) from photo to input.

        The photo is shrunk by PIL on its uint8 pixels (area-like filtering, and much cheaper
        than converting a whole photo to floats), then letterboxed with zeros.
        """
        from PIL import Image

        h, w = image.shape[:2]
        scale = 128.0 / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        small = np.asarray(
            Image.fromarray(np.ascontiguousarray(image)).resize((nw, nh), Image.BILINEAR, reducing_gap=2.0)
        )
        py, px = (128 - nh) // 2, (128 - nw) // 2
        x = torch.zeros(128, 128, 3)
        x[py : py + nh, px : px + nw] = torch.from_numpy(small.astype(np.float32) / 127.5 - 1.0)
        return x.to(self.device), np.array([nw / w, nh / h, px, py], dtype=np.float64)

    @torch.no_grad()
    def detect_boxes(self, images: list[np.ndarray]) -> list[list[tuple[np.ndarray, float, np.ndarray]]]:
        """Face boxes (x0, y0, x1, y1 pixels), scores and six keypoints of each photo.

        BlazeFace was trained on upright faces: on a photo turned by 180 degrees it scores
        the face 0.57 with its keypoints in the wrong places. So where the upright pass finds
        no face, or its best face scores below ``RETRY_SCORE`` or has its eyes more than 45
        degrees from level (keypoints), the photo is also searched turned by 90, 180 and 270
        degrees; each face keeps the orientation that scores it best, mapped back to the photo.
        """
        if not images:
            return []
        inputs, frames = zip(*(self._letterbox(im) for im in images))
        found = self._decode(torch.stack(inputs), frames, 0)
        for b, faces in enumerate(found):
            if not _needs_other_orientations(faces):
                continue
            turned = [self._decode(torch.rot90(inputs[b], k, dims=(0, 1))[None], frames[b : b + 1], k)[0]
                      for k in (1, 2, 3)]  # fmt: skip
            found[b] = _best_orientation([faces, *turned])[: self.max_faces]
        return found

    def _decode(self, inputs: torch.Tensor, frames, turns: int) -> list[list[tuple]]:
        """Detections of letterboxed inputs turned ``turns`` quarter turns counter-clockwise
        (``torch.rot90``), in the unturned photos' pixels."""
        regress, logits = self.detector(inputs)
        scores = torch.sigmoid(logits[..., 0].clamp(-100, 100)).double().cpu().numpy()
        regress = regress.double().cpu().numpy()
        anchors = self.anchors
        results = []
        for b, (sx, sy, px, py) in enumerate(frames):
            keep = np.flatnonzero(scores[b] >= self.min_score)
            raw, anc = regress[b, keep], anchors[keep]
            centre = raw[:, :2] / 128.0 + anc
            half = raw[:, 2:4] / 128.0 / 2
            boxes = np.concatenate([centre - half, centre + half], 1) * 128.0
            points = (raw[:, 4:16].reshape(-1, 6, 2) / 128.0 + anc[:, None]) * 128.0
            offset, scale = np.array([px, py]), np.array([sx, sy])
            faces = []
            for box, score, pts in weighted_nms(boxes, scores[b, keep], points)[: self.max_faces]:
                corners = _unturn(box.reshape(2, 2), turns)
                box = np.r_[corners.min(0), corners.max(0)]
                faces.append(
                    (
                        ((box.reshape(2, 2) - offset) / scale).reshape(4),
                        score,
                        (_unturn(pts, turns) - offset) / scale,
                    )
                )
            results.append(faces)
        return results

    # -- landmarks -----------------------------------------------------------------------
    @staticmethod
    def roi(box: np.ndarray, keypoints: np.ndarray, size: int = 192) -> Crop:
        """MediaPipe's region of interest for the mesh: the detection box enlarged 1.5x to a
        square about its centre, turned so that the eyes are level, ``size`` px."""
        centre = (box[:2] + box[2:]) / 2
        side = 1.5 * max(box[2] - box[0], box[3] - box[1])
        d = keypoints[1] - keypoints[0]  # from the right eye (photo left) to the left eye
        rotation = -math.atan2(-d[1], d[0])
        rotation = rotation - 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
        return Crop(
            np.asarray(centre, dtype=np.float64), np.array([side, side], dtype=np.float64), rotation, size
        )

    def roi_from_mesh(self, mesh: np.ndarray) -> Crop:
        """MediaPipe's tracking ROI from a previous mesh: its bounding box enlarged 1.5x to a
        square, rotated by the line through the outer eye corners (points 33 and 263)."""
        lo, hi = mesh[:468, :2].min(0), mesh[:468, :2].max(0)
        return self.roi(np.r_[lo, hi], mesh[[33, 263], :2], self.mesh_size)

    def _sample(self, image: np.ndarray, roi: Crop) -> torch.Tensor:
        """The landmark network's input for one ROI: (size, size, 3) in [0, 1]."""
        return sample_bilinear(image, roi, self.device)

    @torch.no_grad()
    def landmarks(self, images: list[np.ndarray], rois: list[Crop]):
        """The mesh (n, n_points, 3) in photo pixels and face scores (n,) for one ROI per photo."""
        if not rois:
            return np.zeros((0, self.n_points, 3)), np.zeros(0)
        crops = [self._sample(im, roi) for im, roi in zip(images, rois)]
        raw, flag = self.landmarker(torch.stack(crops))[:2]
        pts = raw.reshape(len(rois), self.n_points, 3).double().cpu().numpy()
        out = np.empty_like(pts)
        for i, roi in enumerate(rois):
            out[i, :, :2] = roi.to_photo(pts[i, :, :2])
            out[i, :, 2] = pts[i, :, 2] / roi.size * roi.side[0]
        return out, torch.sigmoid(flag.reshape(-1)).double().cpu().numpy()

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Every face of each RGB uint8 photo with its mesh (scheme ``"mediapipe468"``; the
        landmark network's face probability in ``extras["mesh_score"]``), best detector
        score first."""
        return self.faces_in(images, self.detect_boxes(images))

    def faces_in(
        self,
        images: list[np.ndarray],
        found: list[list[tuple[np.ndarray, float, np.ndarray]]],
        found_by: str = "blazeface",
        min_mesh_score: float | None = None,
        refine: int | None = None,
        shown: list[list[tuple[np.ndarray, np.ndarray | None]]] | None = None,
    ) -> list[list[Face]]:
        """The mesh of each face a detector found: ``found[i]`` lists photo ``i``'s (box, score,
        keypoints), boxes as BlazeFace draws them and the first two keypoints the eyes (photo
        left first). ``found_by`` goes to ``extras["found_by"]``; ``min_mesh_score`` and
        ``refine`` default to the landmarker's; ``shown`` (as ``found``), the (box,
        keypoints) each face reports, where they are not those its region was drawn from."""
        min_mesh_score = self.min_mesh_score if min_mesh_score is None else min_mesh_score
        flat = [(i, f) for i, faces in enumerate(found) for f in faces]
        reported = [r for faces in shown for r in faces] if shown else [(f[0], f[2]) for _, f in flat]
        rois = [self.roi(box, pts, self.mesh_size) for _, (box, _, pts) in flat]
        crops_of = [images[i] for i, _ in flat]
        meshes, mesh_scores = self.landmarks(crops_of, rois)
        for _ in range(self.refine if refine is None else refine):
            rois = [self.roi_from_mesh(m) for m in meshes]
            meshes, mesh_scores = self.landmarks(crops_of, rois)
        extras = self._extras(meshes, mesh_scores, rois)
        out: list[list[Face]] = [[] for _ in images]
        for (i, (_, score, _)), (box, pts), mesh, ms, extra in zip(
            flat, reported, meshes, mesh_scores, extras
        ):
            if ms < min_mesh_score:
                continue
            out[i].append(
                Face(
                    box=np.asarray(box, dtype=np.float32),
                    score=score,
                    points=mesh.astype(np.float32),
                    scheme=self.scheme,
                    keypoints=None if pts is None else np.asarray(pts, dtype=np.float32),
                    extras={**extra, "found_by": found_by},
                )
            )
        return out

    def _extras(self, meshes: np.ndarray, mesh_scores: np.ndarray, rois: list[Crop]) -> list[dict]:
        """What each face carries besides its points: the landmark network's face probability."""
        return [{"mesh_score": float(ms)} for ms in mesh_scores]


_graph_lock = threading.Lock()


@lru_cache(maxsize=8)
def _cached_graph_unlocked(name: str, device: str):
    """The graph on ``device``, traced and frozen by TorchScript (about 1.5x faster on CPU:
    the operator list is unrolled once and constants are folded)."""
    import warnings

    graph = _load_graph(name).to(device)
    h, w = graph.input_size
    example = torch.zeros(1, h, w, 3, device=device)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings: the graph's shapes are static by design
        return torch.jit.freeze(torch.jit.trace(graph, example, check_trace=False).eval())


def _cached_graph(name: str, device: str):
    """The network ``name`` on ``device``: on LiteRT where :func:`~._litert.network_runtime`
    says so, else the TorchScript graph."""
    if network_runtime(name, device) == "litert":
        return litert_graph(name, DATA_DIR)
    with _graph_lock:
        return _cached_graph_unlocked(name, device)


def runtime_suffix(*graph_files: str, device: str = "cpu") -> str:
    """``"|litert"`` where any of these networks runs on LiteRT, else ``""``: for cache keys
    (the runtimes agree to float32 rounding, not bit for bit)."""
    return "|litert" if any(network_runtime(g, device) == "litert" for g in graph_files) else ""


def default_face_mesh() -> MediaPipeFaceMesh:
    """The detector and mesh ``detect_faces(..., detector="mediapipe")`` uses (CPU), on the
    runtime ``SK3DMM_NETWORK_RUNTIME`` chooses now."""
    return _face_mesh_for(runtime_suffix(DETECTOR_FILE))


@lru_cache(maxsize=2)
def _face_mesh_for(runtime: str) -> MediaPipeFaceMesh:
    return MediaPipeFaceMesh()


class MediaPipeLandmarker:
    """MediaPipe's BlazeFace (short range) and 468-point face mesh (embedded, in torch): the
    default. A photo turned sideways or upside down is searched in its four quarter turns.

    Parameters
    ----------
    upsample : int, default=1
        Ignored (BlazeFace sees every photo letterboxed to 128 px).
    """

    scheme = "mediapipe468"

    def __init__(self, upsample: int = 1):
        self.upsample = upsample

    @property
    def key(self) -> str:
        return "mediapipe-blazeface-short-mesh468" + runtime_suffix(DETECTOR_FILE)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face of an RGB uint8 photo with its 468 points, best detector score first."""
        return default_face_mesh().detect([image])[0]
