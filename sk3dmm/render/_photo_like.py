"""Making renders look like photos, for training R-Net: skin from real photos, hair, natural
backgrounds, faces composited into real photos, and camera/sensor degradations.

Each part is a switch of :func:`sk3dmm.training.render_training_crops` (a probability per render in
:class:`sk3dmm.training.TrainConfig`), so each can be measured on real photos on its own
(``benchmarks/bench_rnet_real.py``).

- :func:`build_photo_bank` fits the model to frontal photos (MediaPipe's 468 points, the dense
  fit) and keeps, per photo, the per-vertex colours it sees (skin, brows, lips, eyes, hairline;
  hidden vertices take their nearest visible neighbour's colour) and a square *context canvas*
  around the face with the fitted camera, so a new face can be rendered back into it (the
  photo's hair, ears, neck and background around a face with known coefficients).
- :func:`natural_backgrounds`: random crops of ``skimage.data`` images (public domain; the
  ones without people) and smooth colour gradients.
- :func:`hair_albedo`: the scalp and a random hairline in a hair colour, on the parametric albedo.
- :func:`degrade`: greyscale, colour casts, low resolution, blur, noise and JPEG.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..fitting import project, transform
from ..morphable import MorphableModel

logger = logging.getLogger(__name__)

# skimage.data images without people or faces (public domain or CC0, shipped with scikit-image)
BACKGROUND_IMAGES = (
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "page",
    "text",
    "moon",
    "coins",
    "brick",
    "grass",
    "gravel",
    "colorwheel",
    "clock",
    "cell",
    "horse",
)
HAIR_COLORS = np.array(
    [[0.06, 0.05, 0.04], [0.18, 0.11, 0.07], [0.35, 0.22, 0.12], [0.62, 0.48, 0.30], [0.55, 0.53, 0.50]]
)


@dataclass
class PhotoBank:
    """Per-vertex colours and context canvases taken from real photos.

    Attributes
    ----------
    textures : (k, n_vertices, 3) float32 colours in [0, 1] (photo shading included)
    canvases : (k, s, s, 3) uint8 squares around each face, at the training crop's pixel scale
    rotation, translation : (k, 3, 3), (k, 3) the fitted model-to-camera pose in the canvas
    focal : (k,) canvas pixels
    center : (k, 2) principal point in canvas pixels
    names : list of str, the photos' file names (for attribution)
    """

    textures: np.ndarray
    canvases: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    focal: np.ndarray
    center: np.ndarray
    names: list

    def __len__(self) -> int:
        return len(self.textures)


def _visible_vertices(model: MorphableModel, cam: torch.Tensor, focal, center, size: int) -> torch.Tensor:
    """(b, n) True where a camera-space vertex is in the image, faces the camera and is not hidden."""
    from ._lighting import vertex_normals
    from ._renderer import render_mesh

    tri = model.tensors(cam.device)["triangles"]
    b = len(cam)
    r = render_mesh(cam, tri, torch.zeros_like(cam), focal, center, size, size)
    uv = project(
        cam, torch.as_tensor(focal, dtype=cam.dtype).expand(b), torch.as_tensor(center, dtype=cam.dtype)
    )
    px = uv.round().long()
    inside = (px >= 0).all(-1) & (px < size).all(-1)
    pxc = px.clamp(0, size - 1)
    depth = r.depth[torch.arange(b)[:, None], pxc[..., 1], pxc[..., 0]]
    facing = (vertex_normals(cam, tri) * cam).sum(-1) < 0  # normal points towards the camera
    return inside & facing & (cam[..., 2] <= depth + 0.3)  # within 3 mm of the front surface


def build_photo_bank(
    paths,
    model: MorphableModel,
    template5: np.ndarray,
    rescale: float,
    canvas_size: int = 160,
    progress: bool = True,
) -> PhotoBank:
    """Fit ``model`` to frontal photos and keep their colours and context (see module doc).

    Photos where MediaPipe finds no face are skipped with a log message.
    """
    from scipy.spatial import cKDTree
    from tqdm.auto import tqdm

    from ..faces import align_crop, crop_affine, detect_faces, largest_face, load_image
    from ..fitting import default_focal, fit_shape_and_pose
    from ..morphable import mediapipe_correspondence

    canvases, meshes, focals, centers, names = [], [], [], [], []
    for path in tqdm(list(paths), desc="photo bank", disable=not progress):
        image = load_image(str(path))
        faces = detect_faces(image, "mediapipe")
        if not faces:
            logger.info("%s: no face found, skipped", path)
            continue
        face = largest_face(faces, str(path))
        canvas, _, params = align_crop(image, face.landmarks, template5, canvas_size, rescale)
        sx, sy, ox, oy = crop_affine(params, canvas_size)
        canvases.append(canvas)
        meshes.append(face.mesh[:, :2] * [sx, sy] + [ox, oy])
        focals.append(float(default_focal(image.shape[1::-1])[0]) * (sx + sy) / 2)
        centers.append(np.array([image.shape[1] / 2 * sx + ox, image.shape[0] / 2 * sy + oy]))
        names.append(Path(path).name)
    if not canvases:
        raise ValueError("no face found in any of the photos given for the photo bank")
    corr = mediapipe_correspondence()
    focal, center = np.array(focals), np.stack(centers)
    fit = fit_shape_and_pose(
        model, np.stack(meshes), focal, center, landmark_vertices=corr.vertex_ids, weights=corr.weights()
    )
    with torch.no_grad():
        cam = transform(model.vertices(fit.alpha, fit.beta), fit.rotation, fit.translation).float()
        visible = _visible_vertices(model, cam, torch.tensor(focal), torch.tensor(center), canvas_size)
        uv = project(cam, torch.tensor(focal, dtype=cam.dtype), torch.tensor(center, dtype=cam.dtype))
    canvas_t = torch.tensor(np.stack(canvases)).permute(0, 3, 1, 2).float() / 255
    grid = (uv + 0.5) / canvas_size * 2 - 1
    colors = torch.nn.functional.grid_sample(canvas_t, grid[:, :, None, :], align_corners=False)
    colors = colors[..., 0].permute(0, 2, 1).numpy()
    mouth = model.region("mouth_socket") if "mouth_socket" in model.regions else np.array([], int)
    textures = np.empty_like(colors)
    for i, vis in enumerate(visible.numpy()):
        vis[mouth] = False
        src = np.flatnonzero(vis)
        _, nearest = cKDTree(model.mean[src]).query(model.mean)
        textures[i] = colors[i, src[nearest]]
        textures[i, mouth] = [0.22, 0.06, 0.06]
    return PhotoBank(
        textures=textures.astype(np.float32),
        canvases=np.stack(canvases),
        rotation=fit.rotation.numpy().astype(np.float32),
        translation=fit.translation.numpy().astype(np.float32),
        focal=focal.astype(np.float32),
        center=center.astype(np.float32),
        names=names,
    )


@lru_cache(maxsize=1)
def _background_images() -> tuple:
    import skimage.data
    from skimage.color import gray2rgb

    images = []
    for name in BACKGROUND_IMAGES:
        try:
            img = np.asarray(getattr(skimage.data, name)())
        except Exception as exc:  # an image that needs a download: skip it
            logger.info("skimage.data.%s unavailable (%s)", name, exc)
            continue
        img = gray2rgb(img) if img.ndim == 2 else img[..., :3]
        images.append(img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else float(img.max() or 1)))
    return tuple(images)


def natural_backgrounds(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` backgrounds (n, size, size, 3) float32: 80% random crops of ``skimage.data`` images
    (random scale, flip, colour), 20% smooth colour gradients."""
    from PIL import Image

    images = _background_images()
    out = np.empty((n, size, size, 3), np.float32)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    for i in range(n):
        if not images or rng.random() < 0.2:
            a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
            angle = rng.uniform(0, 2 * np.pi)
            t = (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]) / 2 + 0.25
            out[i] = np.clip(a + (b - a) * t[..., None], 0, 1)
            continue
        img = images[rng.integers(len(images))]
        h, w = img.shape[:2]
        side = int(rng.uniform(0.2, 1.0) * min(h, w))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray((img[y : y + side, x : x + side] * 255).astype(np.uint8))
        patch = np.asarray(crop.resize((size, size), Image.BILINEAR), np.float32) / 255
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out[i] = np.clip(patch * rng.uniform(0.6, 1.2, 3), 0, 1)
    return out


@lru_cache(maxsize=4)
def _hair_geometry(model: MorphableModel) -> tuple[np.ndarray, np.ndarray, float]:
    """Vertices that can carry hair (head region, face region above the eyes), their height
    above the brows (model units) and the brows-to-crown distance."""
    lm = model.mean[model.landmark_indices]
    brow = lm[17:27, 1].max()
    idx = (
        np.concatenate([model.region(r) for r in ("face", "head_and_neck") if r in model.regions])
        if "face" in model.regions
        else np.arange(model.n_vertices)
    )
    height = model.mean[idx, 1] - brow
    back = model.mean[idx, 2] < lm[:, 2].min() - 2.0 * 10 / model.unit_mm
    keep = (height > 0) | (back & (height > -4.0 * 10 / model.unit_mm))
    crown = float(model.mean[:, 1].max() - brow)
    return idx[keep], height[keep], crown


def hair_albedo(model: MorphableModel, albedo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of a per-vertex ``albedo`` with hair on the scalp: a random colour with strands of
    noise, down to a random hairline between the brows and the crown (bald in 10%)."""
    idx, height, crown = _hair_geometry(model)
    out = albedo.copy()
    if rng.random() < 0.1:
        return out
    line = rng.uniform(0.15, 0.45) * crown
    # 85%: from the hairline up; 15%: the whole scalp, down the back of the head too
    hair = idx[height > line] if rng.random() < 0.85 else idx[height > -crown]
    color = HAIR_COLORS[rng.integers(len(HAIR_COLORS))] * rng.uniform(0.7, 1.3)
    out[hair] = np.clip(color * rng.uniform(0.75, 1.25, (len(hair), 1)), 0, 1)
    return out


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera and sensor effects on one uint8 image: each of greyscale (25%), colour cast (30%),
    low resolution (25%), blur (25%), noise (40%) and JPEG (50%) at random strength."""
    from PIL import Image, ImageFilter

    size = image.shape[:2][::-1]
    img = image.astype(np.float32)
    if rng.random() < 0.3:
        img = img * rng.uniform(0.8, 1.2, 3)
    if rng.random() < 0.25:
        img = np.repeat((img @ np.array([0.299, 0.587, 0.114], np.float32))[..., None], 3, -1)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if rng.random() < 0.25:
        f = rng.uniform(0.25, 0.7)
        pil = pil.resize((max(8, int(size[0] * f)), max(8, int(size[1] * f))), Image.BILINEAR).resize(
            size, Image.BILINEAR
        )
    if rng.random() < 0.25:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.5)))
    out = np.asarray(pil, np.float32)
    if rng.random() < 0.4:
        out = out + rng.normal(0, rng.uniform(2, 8), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=int(rng.integers(20, 90)))
        out = np.asarray(Image.open(buf).convert("RGB"))
    return out
