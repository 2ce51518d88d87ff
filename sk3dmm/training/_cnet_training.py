"""C-Net's label-free training (Deng et al., 2019): the aggregated identity, with each photo's
own expression and pose, must explain every photo of its set (:class:`HybridLoss`: landmarks
and skin pixels), and each photo's identity must agree with the aggregate of the others
(:func:`held_out_consistency`).

``SetAggregator("cnet").fit`` calls :func:`train_cnet`; the network, its aggregation and its
checkpoint are in :mod:`sk3dmm.nets._cnet`.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..morphable import MorphableModel
from ..nets._cnet import aggregate
from ._hybrid_loss import HybridLoss, photos_at

# C-Net's label-free loss. The hybrid terms alone are a weak judge of identity here: on
# synthetic sets with ground truth (benchmarks/bench_aggregation.py) the true identity has a
# lower photometric loss than the set mean in only ~6 sets of 10 and a lower landmark loss in
# ~2 of 10 (noisy landmarks; each photo's expression and pose were estimated with its own
# identity), and C-Net trained on them alone ends up slightly worse than the mean. The
# held-out consistency term (each photo against the aggregate of the others) is an unbiased
# label-free proxy of the aggregate's error; with it C-Net beats the mean. Landmarks weigh a
# tenth of R-Net's, and the Gaussian prior (which favours the shrunken mean) nothing.
CNET_LOSS_WEIGHTS = {"landmark": 1.6e-4, "photometric": 1.92, "coefficient": 0.0, "consistency": 1.0}


def identity_gram(model, step: int = 8) -> torch.Tensor:
    """(n_id, n_id) Gram matrix of the identity modes over the face area (every ``step``-th
    vertex), so that ``d @ G @ d`` is the mean squared vertex distance of an alpha difference."""
    face = model.region("face")[::step]
    basis = torch.as_tensor(model.identity_basis[:, face].reshape(model.n_identity, -1), dtype=torch.float32)
    return basis @ basis.T / len(face)


def held_out_consistency(
    confidences: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor, gram: torch.Tensor
) -> torch.Tensor:
    """Per set: squared shape distance between each photo's identity and C-Net's aggregate of
    the set's other photos (sets of one photo give 0).

    The photos' errors are independent, so its expectation is the aggregate's error against
    the truth plus the held-out photo's own noise (the Noise2Noise argument): minimising it
    makes C-Net's aggregate closer to the truth without any label.
    """
    c = confidences * mask[..., None]
    total, weight = (c * alpha).sum(1, keepdim=True), c.sum(1, keepdim=True)
    others = (total - c * alpha) / (weight - c).clamp_min(1e-8)
    d = others - alpha
    sq = torch.einsum("skn,nm,skm->sk", d, gram, d)
    valid = mask * (mask.sum(1, keepdim=True) >= 2)
    return (sq * valid).sum(1) / valid.sum(1).clamp_min(1.0)


def photo_tensors(sets, size: int, k: int) -> tuple[dict, torch.Tensor]:
    """Every distinct photo of the sets, its crop resized to ``size`` px with the camera and
    landmarks in that crop, and ``slot`` (n_sets, k): the photo of each set position or -1."""
    index: dict[int, int] = {}
    recons = []
    slot = torch.full((len(sets), k), -1, dtype=torch.long)
    for i, (_, rs) in enumerate(sets):
        for j, r in enumerate(rs):
            if r.crop is None:
                raise ValueError("method='cnet' training needs the face crops kept by Reconstruct3DMM")
            if id(r) not in index:
                index[id(r)] = len(recons)
                recons.append(r)
            slot[i, j] = index[id(r)]
    crop_size = recons[0].crop.shape[0]
    image = torch.as_tensor(np.stack([r.crop for r in recons])).permute(0, 3, 1, 2).float() / 255
    cams = [r.crop_camera() for r in recons]
    scale = size / crop_size
    photos = {
        "image": photos_at(image, size),
        "focal": torch.tensor([c[0] * scale for c in cams], dtype=torch.float32),
        "center": torch.tensor(np.stack([c[1] * scale for c in cams]), dtype=torch.float32),
        "landmarks": torch.tensor(np.stack([c[2] * scale for c in cams]), dtype=torch.float32),
        "rotation": torch.tensor(np.stack([r.rotation for r in recons]), dtype=torch.float32),
        "beta": torch.tensor(np.stack([r.coefficients["beta"] for r in recons]), dtype=torch.float32),
    }
    return photos, slot


def set_loss(loss_fn: HybridLoss, agg: torch.Tensor, slot: torch.Tensor, photos: dict):
    """Hybrid loss of each set's photos under its aggregated identity; ``total`` per set."""
    used = slot >= 0
    p = slot[used]
    terms = loss_fn(
        agg[:, None].expand(-1, slot.shape[1], -1)[used],
        photos["beta"][p],
        photos["rotation"][p],
        photos["image"][p],
        photos["landmarks"][p],
        photos["focal"][p],
        photos["center"][p],
        reduce=False,
    )
    per_set = torch.zeros(len(slot), dtype=terms.total.dtype).index_add(
        0, torch.nonzero(used)[:, 0], terms.total
    )
    terms.total = per_set / used.sum(1)
    return terms


def cnet_loss(model: MorphableModel, loss_weights: dict | None) -> tuple[HybridLoss, float, bool]:
    """C-Net's loss: its hybrid part, the weight of the held-out consistency term, and
    whether any rendered term is on (``loss_weights`` over :data:`CNET_LOSS_WEIGHTS`)."""
    weights = {**CNET_LOSS_WEIGHTS, **(loss_weights or {})}
    unknown = set(weights) - {"landmark", "photometric", "coefficient", "consistency"}
    if unknown:
        raise ValueError(
            f"loss_weights: unknown terms {sorted(unknown)}; use landmark, photometric, coefficient, consistency"
        )
    consistency = weights.pop("consistency")
    renders = any(weights[k] > 0 for k in ("landmark", "photometric", "coefficient"))
    return HybridLoss(model, **weights), consistency, renders


def train_cnet(
    net: torch.nn.Module,
    desc: torch.Tensor,
    alpha: torch.Tensor,
    mask: torch.Tensor,
    sets: list,
    model: MorphableModel,
    *,
    loss_weights: dict | None = None,
    render_size: int = 64,
    epochs: int = 10,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """Train ``net`` (in place, left in eval mode) on padded per-set descriptors (s, k, n_in),
    identities (s, k, n_id) and masks (s, k); ``sets``: (rows, reconstructions) per set, whose
    crops the hybrid loss renders against. Returns the mean loss per set of each epoch."""
    loss_fn, consistency, renders = cnet_loss(model, loss_weights)
    photos, slot = photo_tensors(sets, render_size, alpha.shape[1]) if renders else (None, None)
    gram = identity_gram(model)
    net.train()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    batch = 32
    history = []
    for _ in tqdm(range(epochs), desc="C-Net", disable=not progress):
        perm = torch.randperm(len(sets), generator=gen)
        total = 0.0
        for s in range(0, len(sets), batch):
            b = perm[s : s + batch]
            conf = net(desc[b])
            loss = consistency * held_out_consistency(conf, alpha[b], mask[b], gram)
            if renders:
                agg = aggregate(conf, alpha[b], mask[b])  # (bs, n_id)
                loss = loss + set_loss(loss_fn, agg, slot[b], photos).total
            opt.zero_grad()
            loss.mean().backward()
            opt.step()
            total += loss.sum().item()
        history.append(total / len(sets))
    net.eval()
    return history


def label_free_loss(
    sets: list, alpha, model: MorphableModel, loss_weights: dict | None = None, render_size: int = 64
) -> np.ndarray:
    """The hybrid part of C-Net's objective per set: the mean hybrid loss of a set's photos
    re-rendered with ``alpha`` (n_sets, n_identity)."""
    photos, slot = photo_tensors(sets, render_size, max(len(r) for r, _ in sets))
    loss_fn = cnet_loss(model, loss_weights)[0]
    out = []
    with torch.no_grad():
        for s in range(0, len(sets), 64):
            agg = torch.as_tensor(np.asarray(alpha[s : s + 64]), dtype=torch.float32)
            out.append(set_loss(loss_fn, agg, slot[s : s + 64], photos).total.numpy())
    return np.concatenate(out)
