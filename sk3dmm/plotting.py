"""Pictures people would rather look at: fitted meshes over photos, confusion matrices."""

from __future__ import annotations

import numpy as np

from .morphable import MorphableModel


def _axes(ax, figsize=(6, 6)):
    import matplotlib

    if ax is not None:
        return ax.figure, ax
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def project_mesh(model: MorphableModel, reconstruction) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions (n, 2) and camera-space positions (n, 3, model units) of every vertex of a
    face (:func:`sk3dmm.export.camera_vertices`, which the mesh export shares)."""
    from .export import camera_vertices

    _, cam, uv = camera_vertices(model, reconstruction)
    return uv, cam


def plot_reconstruction(
    image: np.ndarray,
    reconstruction,
    model: MorphableModel,
    ax=None,
    region: str = "face",
    mesh_alpha: float = 0.55,
    show_landmarks: bool = True,
):
    """Draw the fitted mesh, shaded and depth-sorted, over the photo.

    Detected landmarks are green dots and the fitted model's landmarks red crosses.

    Parameters
    ----------
    image : (H, W, 3) uint8
    reconstruction : sk3dmm.transformers.Reconstruction
    model : MorphableModel used for the reconstruction
    ax : matplotlib Axes, optional
    region : str, default="face"
        Model region to draw.

    Returns
    -------
    matplotlib Figure
    """
    from matplotlib.collections import PolyCollection

    fig, ax = _axes(ax)
    ax.imshow(image)
    uv, cam = project_mesh(model, reconstruction)
    keep = np.zeros(model.n_vertices, bool)
    keep[model.region(region)] = True
    tri = model.triangles[keep[model.triangles].all(1)]
    # Lambertian shading from a light at the camera; painter's algorithm for hidden faces.
    p = cam[tri]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    centre = p.mean(1)
    cos = -(normal * centre).sum(1) / (
        np.linalg.norm(normal, axis=1) * np.linalg.norm(centre, axis=1) + 1e-12
    )
    order = np.argsort(-centre[:, 2])
    order = order[cos[order] > 0]
    shade = 0.25 + 0.75 * cos[order, None]
    colors = np.c_[shade * [0.75, 0.8, 0.95], np.full(len(order), mesh_alpha)]
    ax.add_collection(PolyCollection(uv[tri[order]], facecolors=colors, edgecolors="none"))
    if show_landmarks:
        ax.scatter(*reconstruction.landmarks.T, s=8, c="lime", label="detected")
        ax.scatter(*reconstruction.fitted_landmarks.T, s=12, c="red", marker="x", lw=0.8, label="fitted")
        ax.legend(loc="lower right", fontsize=8)
    x0, y0, x1, y1 = reconstruction.box
    pad = 0.6 * max(x1 - x0, y1 - y0)
    ax.set_xlim(max(0, x0 - pad), min(image.shape[1], x1 + pad))
    ax.set_ylim(min(image.shape[0], y1 + pad), max(0, y0 - pad))
    ax.set_axis_off()
    ax.set_title(f"reprojection error {reconstruction.reprojection_error:.2f} px", fontsize=9)
    return fig


def overlay_thumbnail(
    image: np.ndarray,
    reconstruction,
    model: MorphableModel,
    size: int = 256,
    region: str = "face",
    show_landmarks: bool = False,
) -> np.ndarray:
    """The fitted mesh over the face, as a small RGB image (for contact sheets).

    The photo is cut to the window :func:`plot_reconstruction` shows and downscaled to at most
    ``size`` pixels before drawing (the camera with it), so a large photo costs what a small one
    does.

    Parameters
    ----------
    image : (H, W, 3) uint8
    reconstruction : sk3dmm.transformers.Reconstruction
    model : MorphableModel used for the reconstruction
    size : int, default=256
        Side of the square thumbnail, pixels.
    region : str, default="face"
    show_landmarks : bool, default=False

    Returns
    -------
    (size, size, 3) uint8
    """
    from dataclasses import replace

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    x0, y0, x1, y1 = np.asarray(reconstruction.box, dtype=np.float64)
    pad = 0.6 * max(x1 - x0, y1 - y0)
    left, top = int(max(0, x0 - pad)), int(max(0, y0 - pad))
    right, bottom = int(min(image.shape[1], x1 + pad)) + 1, int(min(image.shape[0], y1 + pad)) + 1
    window = image[top:bottom, left:right]
    scale = min(1.0, size / max(window.shape[:2]))
    small_size = (max(1, round(window.shape[1] * scale)), max(1, round(window.shape[0] * scale)))
    small = np.asarray(Image.fromarray(np.ascontiguousarray(window)).resize(small_size, Image.BILINEAR))
    sxy = np.array(small_size, dtype=np.float64) / (window.shape[1], window.shape[0])
    offset = np.array([left, top], dtype=np.float64)
    rec = replace(
        reconstruction,
        focal=reconstruction.focal * float(sxy.mean()),
        center=(np.asarray(reconstruction.center) - offset) * sxy,
        landmarks=(reconstruction.landmarks - offset) * sxy,
        fitted_landmarks=(reconstruction.fitted_landmarks - offset) * sxy,
        box=(np.asarray(reconstruction.box) - np.tile(offset, 2)) * np.tile(sxy, 2),
        image_size=small_size,
    )
    fig = Figure(figsize=(size / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    plot_reconstruction(small, rec, model, ax=ax, region=region, show_landmarks=show_landmarks)
    ax.set_title("")
    ax.set_xlim(0, small_size[0])
    ax.set_ylim(small_size[1], 0)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def plot_contact_sheet(
    images,
    titles=None,
    ncols: int = 10,
    size: float = 1.4,
    suptitle: str | None = None,
    failed=None,
):
    """A grid of images with optional small titles.

    Parameters
    ----------
    images : sequence of (H, W, 3) arrays
    titles : sequence of str, optional
    ncols : int, default=10
    size : float, inches per image
    suptitle : str, optional
    failed : sequence of bool, optional
        Cells to mark as failures: a red frame and cross, and a red title.

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(images)
    nrows = max(1, -(-n // ncols))
    lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    row = size * 1.04 + lines * 6 * 1.3 / 72  # the image and its title's lines of 6 pt text
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * row + 0.06), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(images[i])
        bad = failed is not None and bool(failed[i])
        if titles is not None:
            ax.set_title(titles[i], fontsize=6, pad=2, color="red" if bad else "black")
        if bad:
            red = dict(color="red", lw=2, transform=ax.transAxes, clip_on=False)
            ax.plot([0, 1], [0, 1], **red)
            ax.plot([0, 1], [1, 0], **red)
            ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, ec="red", lw=3, transform=ax.transAxes))
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(pad=0.3)
    return fig


def plot_confusion_matrix(
    y_true, y_pred, labels=None, ax=None, title: str | None = None, normalize: bool = True
):
    """A confusion matrix with per-cell percentages (rows: true class), like the paper's Table 3."""
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(y_true) | set(y_pred)) if labels is None else list(labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels).astype(float)
    shown = cm / cm.sum(1, keepdims=True).clip(min=1) * 100 if normalize else cm
    fig, ax = _axes(ax, figsize=(1.0 + 0.75 * len(labels), 0.8 + 0.7 * len(labels)))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=100 if normalize else None)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            text = f"{shown[i, j]:.0f}" if normalize else f"{int(cm[i, j])}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shown[i, j] > 50 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
