"""RetinaFace (MobileNet-0.25), a face detector that also finds half and full profiles, in torch.

The network and weights are those of biubug6's Pytorch_Retinaface / Face-Detector-1MB-with-landmark
(MIT, ``data/RetinaFace-LICENSE``; trained on WIDER FACE, which holds many profiles), written
here from its description: a MobileNetV1 x0.25 body whose strides 8, 16 and 32 feed a
three-level feature pyramid, an SSH context module per level, and per-anchor heads for a face
score (2 classes), a box (4) and five keypoints (10). Two square anchors per cell: 10 and 20 px
at stride 8, 32 and 64 at 16, 128 and 256 at 32; boxes and keypoints are decoded from them with
the variances (0.1, 0.2), then thresholded and merged by non-maximum suppression.

Input: the photo in BGR minus the mean (104, 117, 123), any size; :class:`RetinaFace` resizes
each photo so its long side is ``long_side`` pixels (640 by default; the authors evaluate at
the original size and at 320 / 640), pads a batch to one size with the mean, and runs it at once.

Keypoints: the eye on the photo's left (the subject's right), the other eye, the nose tip, the
mouth corner on the photo's left, the other mouth corner (the order of MediaPipe's first two).
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DATA_DIR = Path(__file__).resolve().parent / "data"
WEIGHTS_FILE = "retinaface_mobilenet0.25.pth"
MIN_SIZES = ((10, 20), (32, 64), (128, 256))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
BGR_MEAN = (104.0, 117.0, 123.0)


def _conv_bn(cin: int, cout: int, stride: int = 1, relu: bool = True, kernel: int = 3, groups: int = 1):
    """Convolution (no bias), batch norm and (``relu``) a ReLU: every layer of this variant
    (its authors' code computes a leaky slope for the pyramid and SSH but never uses it)."""
    layers = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _conv_dw(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with batch norm and a ReLU."""
    dw, pw = _conv_bn(cin, cin, stride, groups=cin), _conv_bn(cin, cout, 1, kernel=1)
    return nn.Sequential(*dw, *pw)


class _MobileNetV1(nn.Module):
    """MobileNetV1 x0.25: three stages of strides 8, 16 and 32 (64, 128, 256 channels)."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv_bn(3, 8, 2),
            _conv_dw(8, 16, 1),
            _conv_dw(16, 32, 2),
            _conv_dw(32, 32, 1),
            _conv_dw(32, 64, 2),
            _conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(_conv_dw(64, 128, 2), *(_conv_dw(128, 128, 1) for _ in range(5)))
        self.stage3 = nn.Sequential(_conv_dw(128, 256, 2), _conv_dw(256, 256, 1))

    def forward(self, x):
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return c1, c2, self.stage3(c2)


class _FPN(nn.Module):
    def __init__(self, channels=(64, 128, 256), out: int = 64):
        super().__init__()
        self.output1, self.output2, self.output3 = (_conv_bn(c, out, kernel=1) for c in channels)
        self.merge1 = _conv_bn(out, out)
        self.merge2 = _conv_bn(out, out)

    def forward(self, features):
        o1, o2, o3 = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
        return o1, o2, o3


class _SSH(nn.Module):
    """The SSH context module: 3x3, 5x5 and 7x7 receptive fields (stacked 3x3s), concatenated."""

    def __init__(self, cin: int = 64, out: int = 64):
        super().__init__()
        self.conv3X3 = _conv_bn(cin, out // 2, relu=False)
        self.conv5X5_1 = _conv_bn(cin, out // 4)
        self.conv5X5_2 = _conv_bn(out // 4, out // 4, relu=False)
        self.conv7X7_2 = _conv_bn(out // 4, out // 4)
        self.conv7x7_3 = _conv_bn(out // 4, out // 4, relu=False)

    def forward(self, x):
        c5 = self.conv5X5_1(x)
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(c5), self.conv7x7_3(self.conv7X7_2(c5))], 1))


class _Head(nn.Module):
    def __init__(self, per_anchor: int, cin: int = 64, anchors: int = 2):
        super().__init__()
        self.per_anchor = per_anchor
        self.conv1x1 = nn.Conv2d(cin, anchors * per_anchor, 1)

    def forward(self, x):
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.per_anchor)


class RetinaFaceNet(nn.Module):
    """The network: (N, 3, H, W) BGR minus the mean -> (boxes (N, A, 4) raw offsets,
    face logits (N, A, 2), keypoints (N, A, 10) raw offsets), A anchors of :func:`prior_boxes`."""

    def __init__(self):
        super().__init__()
        self.body = _MobileNetV1()
        self.fpn = _FPN()
        self.ssh1, self.ssh2, self.ssh3 = _SSH(), _SSH(), _SSH()
        self.ClassHead = nn.ModuleList(_Head(2) for _ in range(3))
        self.BboxHead = nn.ModuleList(_Head(4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(_Head(10) for _ in range(3))

    def forward(self, x):
        levels = self.fpn(self.body(x))
        features = (self.ssh1(levels[0]), self.ssh2(levels[1]), self.ssh3(levels[2]))
        return tuple(torch.cat([head[i](f) for i, f in enumerate(features)], 1)
                     for head in (self.BboxHead, self.ClassHead, self.LandmarkHead))  # fmt: skip


@lru_cache(maxsize=16)
def prior_boxes(height: int, width: int) -> np.ndarray:
    """The anchors (A, 4) of an input of this size: centre x, y and side w, h, as fractions of
    the input (row-major per level, two sizes per cell)."""
    out = []
    for (small, large), step in zip(MIN_SIZES, STEPS):
        fh, fw = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        centres = np.stack([(xs + 0.5) * step / width, (ys + 0.5) * step / height], -1).reshape(-1, 1, 2)
        sides = np.array([[small / width, small / height], [large / width, large / height]])
        out.append(np.concatenate(np.broadcast_arrays(centres, sides[None]), -1).reshape(-1, 4))
    return np.concatenate(out)


def decode(boxes: np.ndarray, keypoints: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw offsets -> boxes (n, 4) x0, y0, x1, y1 and keypoints (n, 5, 2), as fractions of the input."""
    centre = priors[:, :2] + boxes[:, :2] * VARIANCES[0] * priors[:, 2:]
    side = priors[:, 2:] * np.exp(boxes[:, 2:] * VARIANCES[1])
    points = priors[:, None, :2] + keypoints.reshape(-1, 5, 2) * VARIANCES[0] * priors[:, None, 2:]
    return np.concatenate([centre - side / 2, centre + side / 2], 1), points


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(-1)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def load_retinaface(path: str | Path | None = None) -> RetinaFaceNet:
    """The network with the shipped weights (SHA-256 checked), or a user's state dict in the
    same format (``mobilenet0.25_Final.pth`` of Pytorch_Retinaface; a ``module.`` prefix is removed).

    Raises
    ------
    ModelFileError
        A missing, corrupt or foreign file.
    """
    from ..exceptions import ModelFileError
    from ..morphable._files import load_checkpoint, verified_path

    if path is None:
        path = verified_path(DATA_DIR / WEIGHTS_FILE, DATA_DIR / WEIGHTS_FILE.replace(".pth", ".sha256"))
    state = load_checkpoint(path, "RetinaFace weights")
    if not isinstance(state, dict):
        raise ModelFileError(f"RetinaFace weights {path}: not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = RetinaFaceNet()
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(
            f"RetinaFace weights {path}: not RetinaFace MobileNet-0.25's ({exc})"[:400]
        ) from exc
    return net.eval()


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _cached_net(device: str):
    """The shipped network on ``device``, traced and frozen by TorchScript (batch norm folded
    into the convolutions) and run channels-last: 27 ms at 640 x 480 on 2 CPU cores against 63
    eager (the trace holds for any input size: the pyramid's upsampling reads its sizes)."""
    import warnings

    net = load_retinaface().to(device)
    example = torch.zeros(1, 3, 64, 64, device=device)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.freeze(torch.jit.trace(net, example, check_trace=False).eval())


class RetinaFace:
    """RetinaFace MobileNet-0.25 on RGB photos: boxes, scores and five keypoints, batched.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
    long_side : int or None, default=640
        Each photo is resized so that its long side has this many pixels (None: as it is).
        The authors evaluate at 320 and 640 px and at the original size.
    min_score : float, default=0.5
        Face-score threshold.
    iou_threshold : float, default=0.4
        Non-maximum suppression overlap (the authors').
    max_faces : int or None, default=None
        Keep at most this many faces per photo (best first).
    min_side : float, default=8
        Boxes narrower or shorter than this many pixels of the network's input are dropped
        (the smallest anchor is 10 px; in noise the network fires on specks of 3 px).

    Examples
    --------
    >>> import skimage.data
    >>> box, score, keypoints = RetinaFace().detect_boxes([skimage.data.astronaut()])[0][0]
    >>> keypoints.shape, score > 0.9
    ((5, 2), True)
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        long_side: int | None = 640,
        min_score: float = 0.5,
        iou_threshold: float = 0.4,
        max_faces: int | None = None,
        min_side: float = 8.0,
    ):
        self.device = torch.device(device)
        self.long_side = long_side
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        self.max_faces = max_faces
        self.min_side = min_side
        with _lock:
            self.net = _cached_net(str(self.device))

    def _resized(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        if self.long_side is None or max(h, w) == self.long_side:
            return image, 1.0
        from PIL import Image

        scale = self.long_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(size, Image.BILINEAR)), scale

    @torch.no_grad()
    def detect_boxes(self, images: list[np.ndarray]) -> list[list[tuple[np.ndarray, float, np.ndarray]]]:
        """Each photo's faces: (box (4,) x0, y0, x1, y1, score, keypoints (5, 2)) in the photo's
        pixels, best score first."""
        if not images:
            return []
        resized = [self._resized(im) for im in images]
        height = max(im.shape[0] for im, _ in resized)
        width = max(im.shape[1] for im, _ in resized)
        batch = torch.zeros(len(images), 3, height, width)
        mean = torch.tensor(BGR_MEAN)[:, None, None]
        for b, (im, _) in enumerate(resized):
            bgr = torch.from_numpy(np.ascontiguousarray(im[..., ::-1])).permute(2, 0, 1).float()
            batch[b, :, : im.shape[0], : im.shape[1]] = bgr - mean
        raw_boxes, logits, raw_points = self.net(
            batch.to(self.device).contiguous(memory_format=torch.channels_last)
        )
        scores = torch.softmax(logits, -1)[..., 1].double().cpu().numpy()
        raw_boxes, raw_points = raw_boxes.double().cpu().numpy(), raw_points.double().cpu().numpy()
        priors = prior_boxes(height, width)
        frame = np.array([width, height], dtype=np.float64)
        out = []
        for b, (_, scale) in enumerate(resized):
            keep = np.flatnonzero(scores[b] >= self.min_score)
            boxes, points = decode(raw_boxes[b, keep], raw_points[b, keep], priors[keep])
            big = ((boxes[:, 2:] - boxes[:, :2]) * frame >= self.min_side).all(1)
            keep, boxes, points = keep[big], boxes[big], points[big]
            boxes, points = boxes * np.tile(frame, 2) / scale, points * frame / scale
            order = nms(boxes, scores[b, keep], self.iou_threshold)[: self.max_faces]
            out.append([(boxes[i], float(scores[b, keep[i]]), points[i]) for i in order])
        return out


@lru_cache(maxsize=1)
def default_retinaface() -> RetinaFace:
    """The RetinaFace that ``detector="retinaface"`` and the cascade use (CPU, 640 px)."""
    return RetinaFace()
