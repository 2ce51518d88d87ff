"""Turn whatever the user passes (arrays, paths, file objects, data-frame columns) into RGB uint8.

The pixel-type rule (one for arrays and files alike):

* ``uint8``: as is.
* ``uint16``: the 16-bit range, scaled by 1/257.
* other integer types (``int8`` ... ``int64``, ``uint32``, ``uint64``): the values decide, since
  the type does not: all in [0, 255] are 8-bit, all in [0, 65535] 16-bit (scaled by 1/257);
  negative values or values above 65535 are refused.
* floats: finite values in [0, 1] are scaled by 255, values in [0, 255] taken as they are;
  NaN, infinity and values outside [0, 255] are refused.
* ``bool``: refused (a mask is not a photo).

Grayscale is repeated to RGB and RGBA is composited on white (as a browser shows a
transparent photo). Files are turned upright by
their EXIF orientation tag, as a photo viewer shows them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..exceptions import ImageReadError

ImageLike = np.ndarray | str | os.PathLike | io.IOBase


def to_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert a grayscale, RGB or RGBA array to RGB uint8 by the module's pixel-type rule.

    Raises
    ------
    ImageReadError
        Naming ``name`` and the problem, for shapes, types or values the rule refuses.
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
    rgb = _pixels_to_uint8(a, name)
    if rgb.shape[-1] == 4:  # composited on white
        alpha = rgb[..., 3:].astype(np.float32) / 255.0
        rgb = (rgb[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def _pixels_to_uint8(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return (a.astype(np.uint32) // 257).astype(np.uint8)
    if a.dtype == bool:
        raise ImageReadError(f"{name}: a boolean array is a mask, not a photo; pass uint8 pixels")
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 65535:
            raise ImageReadError(
                f"{name}: integer pixels must lie in [0, 255] (8-bit) or [0, 65535] (16-bit); "
                f"got values from {lo} to {hi}"
            )
        return a.astype(np.uint8) if hi <= 255 else (a.astype(np.uint32) // 257).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageReadError(f"{name}: image contains NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0 or hi > 255:
            raise ImageReadError(
                f"{name}: float pixels must lie in [0, 1] or [0, 255]; got values from {lo:.4g} to {hi:.4g}"
            )
        scale = 255.0 if hi <= 1.0 else 1.0
        return np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    raise ImageReadError(f"{name}: unsupported pixel type {a.dtype}")


def read_image(source: str | os.PathLike | io.IOBase, name: str | None = None) -> np.ndarray:
    """Read an image file (path or binary file object) as upright RGB uint8.

    16-bit, palette, grayscale and RGBA files are read too; the EXIF orientation tag is
    applied. ``name`` is how error messages refer to the file (default: its path).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if name is None:
        name = str(source) if isinstance(source, (str, os.PathLike)) else "image"
    if isinstance(source, (str, os.PathLike)):
        source = Path(source)
        if source.is_dir():
            raise ImageReadError(f"{name}: is a folder, not an image file")
    else:  # from its current position; a copy, so the decoder can go back to its start
        source = io.BytesIO(source.read())
    try:
        with Image.open(source) as opened:
            if opened.format == "JPEG" and opened.mode in ("RGB", "L"):
                arr = _decode_jpeg_strictly(opened, name)
            else:
                im = ImageOps.exif_transpose(opened) or opened
                im.load()
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(im).astype(np.int64)
                    arr = np.clip(arr, 0, 65535) if arr.max() > 255 else np.clip(arr, 0, 255)
                elif im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    arr = np.asarray(im.convert("RGBA"))
                else:
                    arr = np.asarray(im.convert("RGB"))
    except ImageReadError:
        raise
    except FileNotFoundError as exc:
        raise ImageReadError(f"{name}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{name}: not a readable image (unknown or corrupt format)") from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{name}: image is too large to decode safely ({exc})") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{name}: not a readable image ({exc.__class__.__name__}: {exc})") from exc
    return to_rgb_uint8(arr, name)


_EXIF_TURNS = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
               6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}  # fmt: skip  # as ImageOps.exif_transpose


def _decode_jpeg_strictly(opened, name: str) -> np.ndarray:
    """An RGB or grayscale JPEG decoded by libjpeg-turbo (simplejpeg, the same pixels as
    PIL's decoder) with its warnings as errors: PIL hides libjpeg's "Corrupt JPEG data"
    warnings and returns a garbled photo. Then turned upright by its EXIF orientation."""
    import simplejpeg
    from PIL import Image

    fp = opened.fp
    fp.seek(0)
    data = fp.read()
    try:
        arr = simplejpeg.decode_jpeg(data, colorspace="rgb", strict=True)
    except ValueError as exc:
        raise ImageReadError(f"{name}: not a readable image (the JPEG decoder says: {exc})") from exc
    turn = _EXIF_TURNS.get(opened.getexif().get(0x0112, 1))
    if turn is not None:
        arr = np.asarray(Image.fromarray(arr).transpose(getattr(Image.Transpose, turn)))
    return arr


def load_image(item: ImageLike, name: str = "image") -> np.ndarray:
    """One input sample (array, path or binary file object) as RGB uint8."""
    if isinstance(item, (str, os.PathLike)) or hasattr(item, "read"):
        return read_image(item, name)
    if isinstance(item, np.ndarray) or hasattr(item, "__array__"):
        return to_rgb_uint8(np.asarray(item), name)
    raise ImageReadError(
        f"{name}: expected an image array, a file path or a file object, got {type(item).__name__}"
    )


def column_values(X) -> list | None:
    """The values of a one-column pandas/polars DataFrame or a Series, as a list; None for
    anything else. A frame with several columns is refused: which one holds the photos?"""
    if isinstance(X, np.ndarray) or not hasattr(X, "columns") and not hasattr(X, "to_list"):
        return None
    if hasattr(X, "columns"):  # DataFrame (pandas or polars)
        if len(X.columns) != 1:
            raise ValueError(
                f"a DataFrame of photos must have one column (paths or images); got {len(X.columns)} "
                "columns: select the photo column, e.g. X[['photo']] or ColumnTransformer([..., ['photo']])"
            )
        X = X[X.columns[0]]
    return list(X.to_list() if hasattr(X, "to_list") else X.tolist())


def as_image_list(X) -> Sequence:
    """Split the accepted input forms into a list of samples (arrays, paths, file objects), unread.

    Accepts a 4-D array (n, H, W, C), a 3-D array (n, H, W) of grayscale images, a list of
    arrays of different sizes, a list of paths or file objects, a single path, or a one-column
    DataFrame / Series of them.

    Raises
    ------
    ValueError
        For one photo passed as X (an (H, W, 3) or (H, W, 4) array), which would otherwise be
        read as H images a few pixels wide, and for other array shapes that are no batch.
    """
    if isinstance(X, (str, os.PathLike)):
        return [X]
    values = column_values(X)
    if values is not None:
        return values
    if isinstance(X, np.ndarray):
        if X.dtype == object:
            return list(X.ravel())
        if X.ndim == 3 and X.shape[-1] in (3, 4):
            raise ValueError(
                f"X is one {X.shape[0]}x{X.shape[1]} photo with {X.shape[-1]} channels, not a batch: "
                "pass a list of photos, e.g. [photo]"
            )
        if X.ndim in (3, 4):
            return list(X)
        raise ValueError(f"expected a batch of images (n, H, W[, C]), got an array of shape {X.shape}")
    return list(X)
