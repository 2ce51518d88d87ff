"""The hybrid weak-supervision loss of Deng et al. (2019), for photos without labels.

Terms (weights as in Deep3DFaceRecon's defaults):

* **landmarks**: squared distance of the model's projected landmarks to the detected ones,
  nose (points 29-31, 1-based) and inner mouth (61-68) weighted 20, others 1. The 17 jaw
  contour points are left out: the model's fixed contour vertices are not the silhouette the
  detector finds once the head turns (the landmark fitter slides them, a loss cannot).
* **photometric**: per-pixel L2 colour error between the rendered face and the photo, over
  the rendered skin area, weighted by how skin-like each photo pixel is (a per-photo chroma
  model, so hair, glasses or an occluder count for little).
  With a texture model (BFM) the render uses the predicted texture and SH lighting, and a
  **texture-variance** term flattens the skin albedo (Deng's reflectance loss) and a
  lighting term keeps it near white. Without one (ICT) the skin is taken to have one albedo:
  its lit colour ``H(n) @ G`` is linear in 27 per-photo unknowns ``G``, solved in closed form
  (weighted ridge least squares, differentiable), which is texture flattening taken to its
  limit.
* **coefficients**: Gaussian prior ``1.0 |alpha|^2 + 0.8 |beta|^2 (+ 0.017 |tex|^2)``.
* **perceptual**: ``1 - cos`` between face embeddings of the photo and of the render pasted
  onto it, when a face-embedding network (a torch module) is given. None ships with sk3dmm:
  dlib's recognition ResNet is not a torch module.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..fitting import project, transform
from ..morphable import MorphableModel
from ..render import AMBIENT_INIT, interpolate, rasterize, sh_basis, shade, vertex_normals
from ..render._renderer import _TO_LIGHT

INNER = slice(17, 68)


def photos_at(images: torch.Tensor, size: int) -> torch.Tensor:
    """R-Net inputs (b, 3, h, w) in [0, 1] as the loss's photos: (b, size, size, 3), area-resized."""
    small = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    return small.permute(0, 2, 3, 1).contiguous()


def landmark_weights() -> np.ndarray:
    """Deep3DFaceRecon's landmark weights for the 51 inner points (contour left out)."""
    w = np.ones(68, np.float32)
    w[28:31] = 20.0  # nose
    w[60:68] = 20.0  # inner mouth
    return w[INNER]


@lru_cache(maxsize=4)
def skin_triangles(model: MorphableModel) -> np.ndarray:
    """Triangles of the face region whose three vertices are skin: no lips, brows, eyes or
    mouth socket (the albedo regions of :mod:`sk3dmm.render`), nor the eye openings."""
    from matplotlib.path import Path

    from ..render._albedo import _region_labels

    skin = _region_labels(model) == 0
    face = np.zeros(model.n_vertices, bool)
    face[model.region("skin" if "skin" in model.regions else "face")] = True
    mean = model.mean
    lm = mean[model.landmark_indices]
    for eye in (slice(36, 42), slice(42, 48)):
        centre = lm[eye, :2].mean(0)
        grown = centre + 1.3 * (lm[eye, :2] - centre)
        skin &= ~Path(grown).contains_points(mean[:, :2])
    tri = model.triangles
    keep = (skin & face)[tri].all(1)
    return tri[keep]


def solve_translation(
    points: torch.Tensor, observed: torch.Tensor, focal: torch.Tensor, center: torch.Tensor, weights=None
) -> torch.Tensor:
    """Camera translation that projects rotated model points onto observed pixels.

    ``f (X + t_x) = (u - c_x)(Z + t_z)`` (and the same for y) is linear in ``t``: solved by
    weighted least squares, twice (the second time weighting by 1 / depth so the residual is
    in pixels). Differentiable.

    Parameters
    ----------
    points : (b, m, 3) rotated model points (camera orientation, no translation)
    observed : (b, m, 2) pixels
    focal : (b,), center : (b, 2)
    weights : (m,) optional
    """
    b, m, _ = points.shape
    du = observed - center[:, None, :]  # (b, m, 2)
    f = focal[:, None].expand(b, m)
    zero = torch.zeros_like(f)
    # rows for x: [f, 0, -du_x] t = du_x Z - f X ; rows for y: [0, f, -du_y] t = du_y Z - f Y
    ax = torch.stack([f, zero, -du[..., 0]], -1)
    ay = torch.stack([zero, f, -du[..., 1]], -1)
    a = torch.cat([ax, ay], 1)  # (b, 2m, 3)
    rhs = torch.cat(
        [du[..., 0] * points[..., 2] - f * points[..., 0], du[..., 1] * points[..., 2] - f * points[..., 1]],
        1,
    )
    w = torch.ones(b, 2 * m, dtype=points.dtype, device=points.device)
    if weights is not None:
        w = w * torch.as_tensor(weights, dtype=points.dtype, device=points.device).repeat(2)
    t = None
    for _ in range(2):
        ata = torch.einsum("bpi,bp,bpj->bij", a, w, a)
        atb = torch.einsum("bpi,bp,bp->bi", a, w, rhs)
        t = torch.linalg.solve(ata, atb)
        depth = (points[..., 2] + t[:, None, 2]).clamp_min(1e-6).detach()
        w = w / depth.repeat(1, 2).square()
    return t


def skin_weight(photos: torch.Tensor, mask: torch.Tensor, sigma: float = 0.035) -> torch.Tensor:
    """How skin-like each pixel is (b, h, w), from its chroma's distance to the median chroma
    of the pixels the face covers. No gradient."""
    with torch.no_grad():
        total = photos.sum(-1, keepdim=True)
        chroma = photos[..., :2] / total.clamp_min(1e-3)
        ref = []
        for c, m in zip(chroma, mask):
            pix = c[m] if m.any() else c.reshape(-1, 2)
            ref.append(pix.median(0).values)
        d2 = (chroma - torch.stack(ref)[:, None, None, :]).square().sum(-1)
        return torch.exp(-d2 / (2 * sigma**2)) * (total[..., 0] > 0.15)


@dataclass
class LossTerms:
    """Per-term values of one batch (floats) and the total (a tensor with gradients)."""

    total: torch.Tensor
    landmarks: float
    photometric: float
    coefficients: float
    texture: float
    perceptual: float


class HybridLoss:
    """The weak-supervision loss for R-Net fine-tuning and C-Net training.

    Parameters
    ----------
    model : MorphableModel
    landmark, photometric, coefficient, texture, lighting, perceptual : float
        Term weights (Deep3DFaceRecon's: 1.6e-3 per 224-px landmark unit, 1.92, 3e-4, 5, 10, 0.2).
    embedder : torch.nn.Module, optional
        Face-embedding network on (b, 3, h, w) RGB in [0, 1], for the perceptual term.
    device : torch.device or str
    """

    def __init__(
        self,
        model: MorphableModel,
        landmark: float = 1.6e-3,
        photometric: float = 1.92,
        coefficient: float = 3e-4,
        texture: float = 5.0,
        lighting: float = 10.0,
        perceptual: float = 0.2,
        embedder: torch.nn.Module | None = None,
        device="cpu",
    ):
        self.model = model
        self.weights = dict(
            landmark=landmark,
            photometric=photometric,
            coefficient=coefficient,
            texture=texture,
            lighting=lighting,
            perceptual=perceptual,
        )
        self.embedder = embedder
        tri = skin_triangles(model)
        keep = np.unique(tri)
        remap = np.full(model.n_vertices, -1)
        remap[keep] = np.arange(len(keep))
        idx = np.concatenate([keep, model.landmark_indices[INNER]])
        t = model.tensors(device, torch.float32)
        self.device = torch.device(device)
        self._n_skin = len(keep)
        self._mean = t["mean"][idx]
        self._identity = t["identity"][:, idx]
        self._expression = t["expression"][:, idx]
        self._triangles = torch.as_tensor(remap[tri], device=self.device)
        self._lm_w = torch.as_tensor(landmark_weights(), device=self.device)
        self._has_texture = model.n_texture > 0
        if self._has_texture:
            self._albedo_mean = t["texture_mean"][keep]
            self._albedo_basis = t["texture"][:, keep]

    def shape(self, alpha: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Skin vertices (b, n_skin, 3) and inner landmarks (b, 51, 3) in model space."""
        v = (
            self._mean
            + torch.einsum("bj,jnd->bnd", alpha, self._identity)
            + torch.einsum("bj,jnd->bnd", beta, self._expression)
        )
        return v[:, : self._n_skin], v[:, self._n_skin :]

    def __call__(
        self,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        rotation: torch.Tensor,
        photos: torch.Tensor,
        landmarks: torch.Tensor,
        focal: torch.Tensor,
        center: torch.Tensor,
        texture: torch.Tensor | None = None,
        gamma: torch.Tensor | None = None,
        reduce: bool = True,
    ) -> LossTerms:
        """Loss of a batch of predictions against their photos.

        Parameters
        ----------
        alpha, beta : (b, n_identity), (b, n_expression)
        rotation : (b, 3, 3) model-to-camera rotation (translation is solved from landmarks)
        photos : (b, h, w, 3) float RGB in [0, 1]
        landmarks : (b, 68, 2) detected landmarks in the photo's pixels (y down)
        focal, center : (b,), (b, 2) the photo's camera
        texture, gamma : (b, n_texture), (b, 27), for models with a texture basis
        reduce : bool
            False gives per-sample totals (b,) in ``total`` (C-Net weights them by set).
        """
        w = self.weights
        b, h, width = photos.shape[:3]
        skin, lm3 = self.shape(alpha, beta)
        lm_obs = landmarks[:, INNER]
        trans = solve_translation(lm3 @ rotation.transpose(1, 2), lm_obs, focal, center, self._lm_w)
        lm2 = project(transform(lm3, rotation, trans), focal, center)
        scale = 224.0 / max(h, width)  # Deep3DFaceRecon's landmark units: 224-px crops
        lm_err = ((lm2 - lm_obs) * scale).square().sum(-1)
        lm_loss = (lm_err * self._lm_w).sum(-1) / 68.0

        cam = transform(skin, rotation, trans)
        screen = torch.cat([project(cam, focal, center), cam[..., 2:]], -1)
        frags = rasterize(screen, self._triangles, h, width)
        normals = vertex_normals(cam, self._triangles) * cam.new_tensor(_TO_LIGHT)
        attention = frags.mask * skin_weight(photos, frags.mask)
        tex_loss = torch.zeros(b, device=photos.device)
        if self._has_texture and texture is not None and gamma is not None:
            albedo = self._albedo_mean + torch.einsum("bj,jnd->bnd", texture, self._albedo_basis)
            render = interpolate(shade(albedo, normals, gamma), self._triangles, frags)
            skin_mean = albedo.mean(1, keepdim=True)
            tex_loss = w["texture"] * (albedo - skin_mean).square().sum(-1).mean(-1)
            g = gamma.reshape(b, 3, 9)
            tex_loss = tex_loss + w["lighting"] * (g - g.mean(1, keepdim=True)).square().mean((1, 2))
        else:
            basis = sh_basis(
                torch.nn.functional.normalize(interpolate(normals, self._triangles, frags), dim=-1)
            )
            basis = basis.reshape(b, -1, 9)
            wt = attention.reshape(b, -1).to(basis.dtype)
            target = photos.reshape(b, -1, 3)
            ridge = 1e-2 * wt.sum(-1).clamp_min(1.0)[:, None, None] * torch.eye(9, device=basis.device)
            ata = torch.einsum("bpk,bp,bpl->bkl", basis, wt, basis) + ridge
            prior = torch.zeros(b, 9, 3, device=basis.device)
            prior[:, 0] = AMBIENT_INIT * 0.6  # a mid-grey skin under ambient light, for empty masks
            atb = torch.einsum("bpk,bp,bpc->bkc", basis, wt, target) + ridge @ prior
            render = (basis @ torch.linalg.solve(ata, atb)).reshape(b, h, width, 3)
        err = (render - photos).square().sum(-1).add(1e-8).sqrt()
        photo_loss = (err * attention).sum((1, 2)) / attention.sum((1, 2)).clamp_min(1.0)

        coef_loss = alpha.square().sum(-1) + 0.8 * beta.square().sum(-1)
        if texture is not None:
            coef_loss = coef_loss + 0.017 * texture.square().sum(-1)
        perc = torch.zeros(b, device=photos.device)
        if self.embedder is not None and w["perceptual"] > 0:
            pasted = torch.where(frags.mask[..., None], render.clamp(0, 1), photos).permute(0, 3, 1, 2)
            e1 = self.embedder(photos.permute(0, 3, 1, 2))
            e2 = self.embedder(pasted)
            perc = 1 - torch.nn.functional.cosine_similarity(e1, e2, dim=-1)
        total = (
            w["landmark"] * lm_loss
            + w["photometric"] * photo_loss
            + w["coefficient"] * coef_loss
            + tex_loss
            + w["perceptual"] * perc
        )
        return LossTerms(
            total=total.mean() if reduce else total,
            landmarks=lm_loss.mean().item(),
            photometric=photo_loss.mean().item(),
            coefficients=coef_loss.mean().item(),
            texture=tex_loss.mean().item(),
            perceptual=perc.mean().item(),
        )
