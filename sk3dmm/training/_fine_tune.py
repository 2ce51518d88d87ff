"""Weakly-supervised fine-tuning of an R-Net on unlabelled photos (Deng et al.'s hybrid loss)."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace

import numpy as np
import torch
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from ..morphable import MorphableModel
from ..nets._embedded import RNetBundle
from ..nets._rnet_io import rnet_rotation
from ._hybrid_loss import HybridLoss, photos_at


def _freeze_batchnorm(net: torch.nn.Module) -> None:
    """Keep BatchNorm statistics as trained: a few photos would otherwise overwrite them."""
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def hybrid_loss_of(
    pred: dict,
    loss_fn: HybridLoss,
    deep3d: bool,
    photos: torch.Tensor,
    landmarks: torch.Tensor,
    focal: torch.Tensor,
    center: torch.Tensor,
):
    """R-Net's split predictions scored by the hybrid loss (see :class:`HybridLoss`)."""
    beta = pred["exp"]
    bounds = loss_fn.model.expression_bounds
    if bounds is not None:
        beta = beta.clamp(*bounds)
    return loss_fn(
        pred["id"],
        beta,
        rnet_rotation(pred["angle"], deep3d),
        photos,
        landmarks,
        focal,
        center,
        texture=pred.get("tex"),
        gamma=pred.get("gamma") if loss_fn.model.n_texture else None,
    )


def fine_tune_rnet(
    bundle: RNetBundle,
    model: MorphableModel,
    crops: np.ndarray,
    landmarks: np.ndarray,
    focal: np.ndarray,
    center: np.ndarray,
    epochs: int = 5,
    lr: float = 1e-4,
    batch_size: int = 16,
    render_size: int = 112,
    loss: HybridLoss | None = None,
    random_state=None,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[RNetBundle, list[dict]]:
    """Fine-tune a copy of an R-Net on unlabelled face crops with the hybrid loss.

    Parameters
    ----------
    bundle : RNetBundle
        The R-Net to start from (left unchanged).
    model : MorphableModel
        The model its coefficients belong to.
    crops : (n, s, s, 3) uint8
        Face crops aligned as the R-Net expects (``Reconstruction.crop``).
    landmarks, focal, center : (n, 68, 2), (n,), (n, 2)
        Detected landmarks and camera in the crops' pixels (``Reconstruction.crop_camera``).
    epochs, lr, batch_size : optimisation (Adam; BatchNorm statistics frozen)
    render_size : int, default=112
        Crops are compared with renders at this size.
    loss : HybridLoss, optional
        Default: :class:`HybridLoss` with Deep3DFaceRecon's weights.
    random_state : int, RandomState or None
        Seeds the order of the photos.
    device : torch device

    Returns
    -------
    bundle : a new RNetBundle with the tuned network (``source`` says so)
    history : per-epoch mean loss terms
    """
    device = torch.device(device)
    n, s = len(crops), crops.shape[1]
    if n == 0:
        raise ValueError("fine-tuning needs at least one photo with a detected face")
    scale = render_size / s
    image = torch.as_tensor(crops).permute(0, 3, 1, 2).float().div(255.0)
    photos = photos_at(image, render_size)
    lm = torch.as_tensor(landmarks * scale, dtype=torch.float32)
    foc = torch.as_tensor(focal * scale, dtype=torch.float32)
    cen = torch.as_tensor(center * scale, dtype=torch.float32)
    loss_fn = loss if loss is not None else HybridLoss(model, device=device)
    net = copy.deepcopy(bundle.net).to(device).train()
    _freeze_batchnorm(net)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(int(check_random_state(random_state).randint(2**31 - 1)))
    deep3d = bundle.source.startswith("Deep3DFaceRecon")
    history = []
    for epoch in tqdm(range(epochs), desc="fine-tune R-Net", disable=not progress):
        perm = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        for start in range(0, n, batch_size):
            b = perm[start : start + batch_size]
            terms = hybrid_loss_of(
                net.split(net(image[b].to(device))),
                loss_fn,
                deep3d,
                photos[b].to(device),
                lm[b].to(device),
                foc[b].to(device),
                cen[b].to(device),
            )
            opt.zero_grad()
            terms.total.backward()
            opt.step()
            for key, value in vars(terms).items():
                sums[key] = sums.get(key, 0.0) + (value.item() if key == "total" else value) * len(b)
        history.append({"epoch": epoch + 1, **{k: v / n for k, v in sums.items()}})
    net.eval()
    digest = hashlib.blake2b(digest_size=8)
    for v in net.state_dict().values():
        digest.update(v.detach().cpu().numpy().tobytes())
    tuned = replace(
        bundle, net=net, source=f"{bundle.source} fine-tuned on {n} photos ({digest.hexdigest()})"
    )
    return tuned, history
