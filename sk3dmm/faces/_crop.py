"""Crops of a photo: one record (:class:`Crop`) for the geometry every landmarker and R-Net use,
the samplers that fill it, and the downscaling of large photos for detection."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from ._alignment import align_crop, alignment, crop_affine, eye_line_angle


@dataclass(frozen=True, eq=False)
class Crop:
    """A square window of a photo, turned and scaled, and (once sampled) its pixels.

    A crop pixel ``u`` and a photo pixel ``p`` (both x right, y down, pixel edges at integers)
    are related by ``p = centre + R(rotation) @ ((u / size - 0.5) * side)``.

    Attributes
    ----------
    centre : (2,) the photo point at the crop's centre
    side : (2,) photo pixels the crop spans along its own x and y axes
    rotation : float, radians the crop's axes are turned from the photo's (clockwise on screen:
        a face whose eye line has this angle comes out level)
    size : int, the crop's pixels per side
    pixels : (size, size, 3) uint8 or None
    """

    centre: np.ndarray
    side: np.ndarray
    rotation: float
    size: int
    pixels: np.ndarray | None = None

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Crop pixels (..., 2) to photo pixels."""
        pts = np.asarray(points, dtype=np.float64)
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        x = (pts[..., 0] / self.size - 0.5) * self.side[0]
        y = (pts[..., 1] / self.size - 0.5) * self.side[1]
        return np.stack([c * x - s * y + self.centre[0], s * x + c * y + self.centre[1]], -1)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo pixels (..., 2) to crop pixels."""
        d = np.asarray(points, dtype=np.float64) - self.centre
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        local = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)
        return (local / self.side + 0.5) * self.size

    def scaled(self, scale_xy: np.ndarray) -> Crop:
        """The crop in the pixels of the photo resized by ``scale_xy`` (exact for equal factors
        or an unturned crop; downscaling rounds the two factors apart by under 1/width)."""
        sxy = np.asarray(scale_xy, dtype=np.float64)
        return replace(self, centre=self.centre * sxy, side=self.side * sxy)

    def affine_about(self, pivot: np.ndarray) -> np.ndarray:
        """``(sx, sy, ox, oy)`` with ``crop_xy = turned_xy * (sx, sy) + (ox, oy)``, where
        ``turned_xy`` is the photo point turned by ``-rotation`` about ``pivot``."""
        scale = self.size / self.side
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        d = np.asarray(pivot, dtype=np.float64) - self.centre
        turned = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])
        return np.r_[scale, (turned - pivot) * scale + self.size / 2]


def five_point_crop(
    image: np.ndarray, landmarks68: np.ndarray, spec: tuple, level: bool = True, pixels: bool = True
) -> Crop:
    """Deep3DFaceRecon's crop (:func:`~sk3dmm.faces.align_crop`, aligned on 5 points), turned so
    that the eyes are level, as R-Net sees a face.

    Parameters
    ----------
    image : (H, W, 3) uint8, or its shape (H, W[, 3]) where ``pixels=False``
    landmarks68 : (68, 2) in the image's pixels
    spec : (template5, size, rescale_factor), see :func:`~sk3dmm.faces.align_crop`
    level : bool, default=True
        Turn the crop so that the eyes are level; False: the photo's own axes (as the profile
        R-Net reads a profile, whose eye line is foreshortened).
    pixels : bool, default=True
        Sample the crop's pixels; False: its geometry alone (the same, without the photo's
        resampling, most of the time a crop takes), ``pixels`` None.
    """
    template5, size, rescale = spec
    roll = eye_line_angle(landmarks68) if level else 0.0  # level, as MediaPipe's graph turns its ROI
    shape = np.shape(image) if pixels else tuple(image)
    if pixels:
        sampled, _, params = align_crop(image, landmarks68, template5, size, rescale, roll=roll)
    else:
        _, t, s = alignment(shape[1::-1], landmarks68, template5, rescale, roll)
        sampled, params = None, np.array([shape[1], shape[0], s, t[0], t[1]])
    sx, sy, ox, oy = crop_affine(params, size)
    pivot = np.array([shape[1] / 2, shape[0] / 2])
    turned = (size / 2 - np.array([ox, oy])) / np.array([sx, sy])  # the crop centre, turned
    c, s = math.cos(roll), math.sin(roll)
    d = turned - pivot
    centre = np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]]) + pivot
    return Crop(centre, size / np.array([sx, sy]), roll, size, sampled)


def sample_bilinear(image: np.ndarray, crop: Crop, device: torch.device) -> torch.Tensor:
    """A square crop resampled from the photo: (size, size, 3) float in [0, 1] (edges
    replicated), as MediaPipe's ``ImageToTensorCalculator``. Only the crop's bounding region of
    the photo is converted to floats."""
    h, w = image.shape[:2]
    n, side, rotation = crop.size, float(crop.side[0]), crop.rotation
    centre = crop.centre
    c, s = math.cos(rotation), math.sin(rotation)
    reach = side * (abs(c) + abs(s)) / 2 + 2
    x0, y0 = max(0, int(centre[0] - reach)), max(0, int(centre[1] - reach))
    x1, y1 = min(w, int(math.ceil(centre[0] + reach))), min(h, int(math.ceil(centre[1] + reach)))
    if x1 <= x0 or y1 <= y0:  # crop outside the photo: sample its nearest edge pixel
        x0, y0 = min(max(0, x0), w - 1), min(max(0, y0), h - 1)
        x1, y1 = x0 + 1, y0 + 1
    region = torch.from_numpy(np.array(image[y0:y1, x0:x1])).to(device)  # a copy: writable
    img = region.permute(2, 0, 1)[None].float() / 255.0
    rh, rw = y1 - y0, x1 - x0
    # crop pixel centres u, v in (-0.5, 0.5) -> photo coordinates -> grid_sample's [-1, 1]
    lin = (torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n - 0.5
    v, u = torch.meshgrid(lin, lin, indexing="ij")
    px = (c * u - s * v) * side + float(centre[0]) - x0
    py = (s * u + c * v) * side + float(centre[1]) - y0
    grid = torch.stack([2 * px / rw - 1, 2 * py / rh - 1], -1)[None]
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0)


def downscaled(image: np.ndarray, max_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo shrunk to at most ``max_pixels`` (bilinear) and the (x, y) factors used."""
    (h, w), factors = downscaled_shape(image.shape, max_pixels)
    if (h, w) == image.shape[:2]:
        return image, factors
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR)), factors


def downscaled_shape(shape: tuple[int, ...], max_pixels: int) -> tuple[tuple[int, int], np.ndarray]:
    """The (height, width) :func:`downscaled` gives a photo of ``shape`` (H, W[, C]), without
    its pixels, and the (x, y) factors from the photo's."""
    h, w = shape[:2]
    scale = min(1.0, float(np.sqrt(max_pixels / (h * w))))
    if scale >= 1.0:
        return (h, w), np.ones(2)
    size = max(1, round(w * scale)), max(1, round(h * scale))
    return (size[1], size[0]), np.array([size[0] / w, size[1] / h])


def sample_opencv(
    image: np.ndarray, centre, side, rotation: float, size: int, border: str = "replicate"
) -> np.ndarray:
    """A rotated rectangle of the photo resampled as MediaPipe's CPU ``ImageToTensorCalculator``
    does it (OpenCV's ``warpPerspective``, bilinear, on uint8): (size, size, 3) uint8.

    OpenCV's conventions, reproduced bit for bit: pixel centres at integer coordinates, the
    rectangle's corners mapped onto the output's corners, sample positions rounded to 1/32
    pixel, and each interpolated value rounded to an integer (summed in integers: the weights
    are exact multiples of 1/1024, so this is the exact value rounded, twice as fast as floats). ``border``: ``"replicate"``
    (edge pixels) or ``"zero"``.

    Parameters
    ----------
    image : (h, w, 3) uint8
    centre : (2,) x, y; side : (2,) width, height (photo pixels); rotation : radians
    size : output side in pixels

    Where OpenCV itself is installed (``opencv-python-headless``, the ``fast`` extra) and gives
    these bits on a probe (4.10 does; 4.11's rewritten warp rounds otherwise), its
    ``warpPerspective`` does the work (0.3 ms instead of 5 for a 256 px crop); else numpy.
    """
    warp = _opencv_warp()
    if warp is not None:
        return warp(image, centre, side, rotation, size, border)
    return _sample_opencv_numpy(image, centre, side, rotation, size, border)


def _sample_opencv_numpy(
    image: np.ndarray, centre, side, rotation: float, size: int, border: str = "replicate"
) -> np.ndarray:
    """:func:`sample_opencv` in numpy."""
    h, w = image.shape[:2]
    c, s = math.cos(rotation), math.sin(rotation)
    grid = np.arange(size, dtype=np.float64) / size - 0.5
    u, v = np.meshgrid(grid * float(side[0]), grid * float(side[1]))
    x = np.round((c * u - s * v + float(centre[0])) * 32).astype(np.int64)
    y = np.round((s * u + c * v + float(centre[1])) * 32).astype(np.int64)
    x0, y0 = x >> 5, y >> 5
    fx, fy = x & 31, y & 31  # positions in 1/32 pixel: the four weights are integers in 1/1024
    flat = image.reshape(-1, image.shape[2])
    acc = np.zeros((size, size, image.shape[2]), dtype=np.int64)
    for dy, wy in ((0, 32 - fy), (1, fy)):
        yi = y0 + dy
        rows = np.clip(yi, 0, h - 1) * w
        for dx, wx in ((0, 32 - fx), (1, fx)):
            xi = x0 + dx
            weight = wx * wy
            if border == "zero":
                weight = weight * ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h))
            acc += np.take(flat, rows + np.clip(xi, 0, w - 1), axis=0) * weight[..., None]
    return ((acc + 512) >> 10).clip(0, 255).astype(np.uint8)  # exact sum / 1024, rounded half up


def _cv2_warp(image: np.ndarray, centre, side, rotation: float, size: int, border: str = "replicate"):
    """:func:`sample_opencv` by OpenCV's ``warpPerspective`` (output pixel to photo matrix)."""
    import cv2

    c, s = math.cos(rotation), math.sin(rotation)
    sw, sh = float(side[0]), float(side[1])
    matrix = np.array(
        [
            [c * sw / size, -s * sh / size, float(centre[0]) - 0.5 * (c * sw - s * sh)],
            [s * sw / size, c * sh / size, float(centre[1]) - 0.5 * (s * sw + c * sh)],
            [0.0, 0.0, 1.0],
        ]
    )
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    out = cv2.warpPerspective(
        np.ascontiguousarray(image),
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=mode,
        borderValue=0,
    )
    return out.reshape(size, size, -1)


_warp_checked: list = []


def _opencv_warp():
    """OpenCV's warp where it is installed and gives :func:`_sample_opencv_numpy`'s bits on a
    probe (a noise photo, turned and scaled crops, both borders), else None; checked once."""
    if _warp_checked:
        return _warp_checked[0]
    warp = None
    try:
        import cv2  # noqa: F401
    except ImportError:
        pass
    else:
        probe = np.random.default_rng(0).integers(0, 256, (61, 47, 3), dtype=np.uint8)
        cases = [((20.3, 31.7), (40.0, 52.0), 0.37, 24), ((5.0, 50.0), (90.0, 90.0), -2.1, 32)]
        same = all(
            np.array_equal(_cv2_warp(probe, *case, border=b), _sample_opencv_numpy(probe, *case, border=b))
            for case in cases
            for b in ("replicate", "zero")
        )
        warp = _cv2_warp if same else None
    _warp_checked.append(warp)
    return warp
