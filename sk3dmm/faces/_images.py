"""Turn whatever the user passes (arrays, paths) into RGB uint8 images."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..exceptions import ImageReadError

ImageLike = np.ndarray | str | os.PathLike


def to_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert a grayscale, RGB or RGBA array of any integer or float range to RGB uint8.

    16-bit images are scaled by 1/257; floats are taken as [0, 1] when their maximum is <= 1,
    else as [0, 255]; RGBA is composited on black.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, -1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ImageReadError(f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if min(a.shape[:2]) < 8:
        raise ImageReadError(f"{name}: image of {a.shape[1]}x{a.shape[0]} pixels is too small")
    if a.dtype == np.uint8:
        rgb = a
    elif a.dtype == np.uint16:
        rgb = (a.astype(np.uint32) // 257).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageReadError(f"{name}: image contains NaN or infinite values")
        scale = 255.0 if a.max() <= 1.0 else 1.0
        rgb = np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        rgb = np.clip(a, 0, 255).astype(np.uint8)
    else:
        raise ImageReadError(f"{name}: unsupported pixel type {a.dtype}")
    if rgb.shape[-1] == 4:
        alpha = rgb[..., 3:].astype(np.float32) / 255.0
        rgb = (rgb[..., :3].astype(np.float32) * alpha + 0.5).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def read_image(path: str | os.PathLike, name: str | None = None) -> np.ndarray:
    """Read an image file as RGB uint8 (16-bit, palette, grayscale and RGBA files too).

    ``name`` is how error messages refer to the file (default: its path).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    name = str(path) if name is None else name
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im).astype(np.uint32)
                arr = (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
            elif im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                arr = np.asarray(im.convert("RGBA"))
            else:
                arr = np.asarray(im.convert("RGB"))
    except FileNotFoundError as exc:
        raise ImageReadError(f"{name}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{name}: not a readable image (unknown or corrupt format)") from exc
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"{name}: not a readable image ({exc.__class__.__name__}: {exc})") from exc
    return to_rgb_uint8(arr, name)


def load_image(item: ImageLike, name: str = "image") -> np.ndarray:
    """One input sample (array or path) as RGB uint8."""
    if isinstance(item, (str, os.PathLike)):
        return read_image(item, name)
    if isinstance(item, np.ndarray) or hasattr(item, "__array__"):
        return to_rgb_uint8(np.asarray(item), name)
    raise ImageReadError(f"{name}: expected an image array or a file path, got {type(item).__name__}")


def as_image_list(X) -> Sequence:
    """Split the accepted input forms into a list of samples (arrays or paths), unread.

    Accepts a 4-D array (n, H, W, C), a 3-D array (n, H, W) of grayscale images, a list of
    arrays of different sizes, or a list of paths; a single path or a DataFrame/Series
    column of paths also works.
    """
    if isinstance(X, (str, os.PathLike)):
        return [X]
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas
        X = X.to_numpy().ravel().tolist()
    if isinstance(X, np.ndarray):
        if X.dtype == object:
            return list(X.ravel())
        if X.ndim in (3, 4):
            return list(X)
        raise ImageReadError(f"expected a batch of images (n, H, W[, C]), got an array of shape {X.shape}")
    return list(X)
