"""The 5 points Deep3DFaceRecon aligns on, and the similarity crop to 224 x 224."""

from __future__ import annotations

import numpy as np


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from 68 landmarks, as Deep3DFaceRecon does.

    Deep3DFaceRecon's ``extract_5p``: eye centres are the means of the eye corners 37/40 and
    43/46 (1-based), the nose is point 31 and the mouth corners 49 and 55.

    Parameters
    ----------
    landmarks68 : (..., 68, 2)

    Returns
    -------
    (..., 5, 2): left-of-image eye, right-of-image eye, nose, left mouth corner, right mouth corner
    """
    lm = np.asarray(landmarks68)
    return np.stack(
        [
            lm[..., [36, 39], :].mean(-2),
            lm[..., [42, 45], :].mean(-2),
            lm[..., 30, :],
            lm[..., 48, :],
            lm[..., 54, :],
        ],
        -2,
    )


def five_as_68(points5: np.ndarray) -> np.ndarray:
    """Five points (eye centres, nose tip, mouth corners; e.g. RetinaFace's keypoints) as 68
    landmarks whose :func:`five_points` are those five (the other landmarks are zero), so that
    :func:`align_crop` can crop on them.

    Parameters
    ----------
    points5 : (..., 5, 2), in :func:`five_points`' order

    Returns
    -------
    (..., 68, 2)
    """
    k = np.asarray(points5, dtype=np.float64)
    points = np.zeros((*k.shape[:-2], 68, 2))
    for slots, j in (([36, 39], 0), ([42, 45], 1), ([30], 2), ([48], 3), ([54], 4)):
        points[..., slots, :] = k[..., j : j + 1, :]
    return points


def pos_fit(points2d: np.ndarray, points3d: np.ndarray) -> tuple[np.ndarray, float]:
    """Deep3DFaceRecon's ``POS``: least-squares scaled-orthographic fit of 3-D to 2-D points.

    Returns the image position ``t`` (2,) of the model origin and the scale ``s`` (pixels per
    model unit).
    """
    xp, x = np.asarray(points2d, np.float64).T, np.asarray(points3d, np.float64).T
    n = xp.shape[1]
    a = np.zeros((2 * n, 8))
    a[0::2, 0:3] = x.T
    a[0::2, 3] = 1
    a[1::2, 4:7] = x.T
    a[1::2, 7] = 1
    b = xp.T.reshape(2 * n, 1)
    k = np.linalg.lstsq(a, b, rcond=None)[0][:, 0]
    s = (np.linalg.norm(k[0:3]) + np.linalg.norm(k[4:7])) / 2
    return np.array([k[3], k[7]]), float(s)


def alignment(
    image_size: tuple[int, int],
    landmarks68: np.ndarray,
    template5: np.ndarray,
    rescale_factor: float,
    roll: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Where :func:`align_crop` puts a photo of ``image_size`` (width, height), without its
    pixels: the 68 landmarks turned by ``-roll`` with y flipped up, the template origin's
    position ``t`` (2,) and the photo's resize factor ``s``."""
    w0, h0 = image_size
    lm = np.asarray(landmarks68, np.float64).copy()
    if roll:
        lm = rotate_points(lm, -roll, (w0 / 2, h0 / 2))
    lm[:, 1] = h0 - 1 - lm[:, 1]
    t, s = pos_fit(five_points(lm), template5)
    return lm, t, rescale_factor / s


def align_crop(
    image: np.ndarray,
    landmarks68: np.ndarray,
    template5: np.ndarray,
    target_size: int = 224,
    rescale_factor: float = 102.0,
    roll: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deep3DFaceRecon's ``align_img``: similarity-align a photo on 5 points and crop it.

    The 68 landmarks are given in ordinary pixel coordinates (y down); as Deep3DFaceRecon
    does, y is flipped before the fit, the image is resized by ``rescale_factor / s`` (bicubic)
    and cropped to ``target_size`` around the template origin.

    ``roll`` (radians) first turns the photo about its centre by ``-roll`` (see
    :func:`rotate_points`), so a face whose eyes are ``roll`` from level comes out level;
    ``trans_params`` then describe the crop of that turned photo. With ``roll=0`` the crop is
    exactly Deep3DFaceRecon's.

    Parameters
    ----------
    image : (H, W, 3) uint8
    landmarks68 : (68, 2) pixels, y down
    template5 : (5, 3) template points (eye centres, nose, mouth corners) in model units
    target_size : int, default=224
    rescale_factor : float, default=102
        Deep3DFaceRecon's 102 for BFM (decimetres) at 224 px.

    Returns
    -------
    crop : (target_size, target_size, 3) uint8
    landmarks : (68, 2) landmarks in the crop, y up (Deep3DFaceRecon's convention)
    trans_params : (5,) ``w0, h0, s, tx, ty`` to map results back to the photo
    """
    from PIL import Image

    h0, w0 = image.shape[:2]
    lm, t, s = alignment(image.shape[1::-1], landmarks68, template5, rescale_factor, roll)
    w, h = int(w0 * s), int(h0 * s)
    left = int(w / 2 - target_size / 2 + float((t[0] - w0 / 2) * s))
    up = int(h / 2 - target_size / 2 + float((h0 / 2 - t[1]) * s))
    img = Image.fromarray(image).resize((w, h), resample=Image.BICUBIC)
    if roll:  # crop = S (R (p - c) + c) + o, with q = S p the resized photo's pixels
        scale = np.diag([w / w0, h / h0])
        m = scale @ _rotation(-roll) @ np.linalg.inv(scale)
        shift = scale @ (np.array([w0 / 2, h0 / 2]) - _rotation(-roll) @ [w0 / 2, h0 / 2]) - [left, up]
        inv = np.linalg.inv(m)
        data = (*inv[0], -(inv[0] @ shift), *inv[1], -(inv[1] @ shift))
        crop = np.asarray(img.transform((target_size,) * 2, Image.AFFINE, data, resample=Image.BICUBIC))
    else:
        crop = np.asarray(img.crop((left, up, left + target_size, up + target_size)))
    lm_new = np.stack([lm[:, 0] - t[0] + w0 / 2, lm[:, 1] - t[1] + h0 / 2], axis=1) * s
    lm_new = lm_new - np.array([w / 2 - target_size / 2, h / 2 - target_size / 2])
    return crop, lm_new, np.array([w0, h0, s, t[0], t[1]])


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def rotate_points(points: np.ndarray, angle: float, centre) -> np.ndarray:
    """Points (..., 2) in pixels (y down) turned by ``angle`` radians about ``centre``
    (positive: clockwise on screen, as the angle of the eye line ``atan2(dy, dx)``)."""
    c = np.asarray(centre, dtype=np.float64)
    return (np.asarray(points, dtype=np.float64) - c) @ _rotation(angle).T + c


def eye_line_angle(landmarks68: np.ndarray) -> float:
    """Radians from level of the line from the photo-left eye centre to the photo-right one."""
    left, right = five_points(landmarks68)[:2]
    d = right - left
    return float(np.arctan2(d[1], d[0]))


def crop_affine(trans_params: np.ndarray, target_size: int) -> np.ndarray:
    """Where :func:`align_crop` put the photo: ``crop_xy = image_xy * (sx, sy) + (ox, oy)``
    (pixels, y down), as ``(sx, sy, ox, oy)``."""
    w0, h0, s, tx, ty = (float(v) for v in trans_params)
    w, h = int(w0 * s), int(h0 * s)
    left = int(w / 2 - target_size / 2 + (tx - w0 / 2) * s)
    up = int(h / 2 - target_size / 2 + (h0 / 2 - ty) * s)
    return np.array([w / w0, h / h0, -left, -up])
