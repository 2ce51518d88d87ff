"""Training the embedded R-Net: synthetic renders with known coefficients (Generate & Render),
then the hybrid weak supervision of Deng et al. on fresh renders.

Each training image is a random face (identity, expression recipe or random blendshapes,
yaw within ``yaw_max`` degrees (60 by default), lighting, albedo, background) rendered by
:mod:`sk3dmm.render`, then aligned and cropped exactly as photos are at inference (5 points
from 68 landmarks, with detector-like landmark noise, or RetinaFace's keypoints). The loss is
the squared vertex error of the predicted face (identity + expression, no pose) over the face
area, plus pose angles and lighting.

Stage 2 (:func:`train_hybrid_stage`) adds :class:`HybridLoss` (landmarks, skin photometric,
coefficient prior) computed from the crops alone, as on unlabelled photos, next to the
supervised loss on fresh renders.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from ..faces import align_crop, crop_affine, five_as_68
from ..fitting import project, transform
from ..morphable import MorphableModel, load_ict_model
from ..nets._rnet import RNet
from ..nets._rnet_io import ICT_SIZES, INPUT_SIZE, RESCALE_CM, ict_template, to_input
from ..render import ict_albedo, pose_to_camera, random_albedo_params
from ._fine_tune import _freeze_batchnorm, hybrid_loss_of
from ._hybrid_loss import HybridLoss, photos_at

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Stage-1 training: renders, network and optimiser.

    The photo-like switches are probabilities per render (0 gives the plain renders of the
    first embedded R-Net): ``photo_textures`` skin from the photo bank, ``context`` the face
    composited into a bank photo at its fitted pose, ``backgrounds`` natural images behind the
    head, ``hair`` hair on the parametric albedo's scalp, ``camera`` sensor degradations,
    ``mesh_crop`` cropping on MediaPipe's 68 points' vertices (as photos are cropped with the
    default detector) instead of the model's 68 landmarks, ``retinaface_crop`` cropping on the
    five keypoints RetinaFace finds in the render, not turned level (as profiles whose mesh is
    unusable are cropped at inference; where it finds no face, the landmarks' crop). ``photos``
    is a folder of frontal photos for the bank, or several joined by ``os.pathsep`` (searched
    recursively; ``""``: no bank). ``yaw_max`` bounds the renders' yaw (degrees, uniform).
    """

    n_train: int = 40000
    n_valid: int = 1000
    render_size: int = 160
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    backbone: str = "resnet18"
    width: int = 32
    landmark_noise_px: float = 1.5
    seed: int = 0
    yaw_max: float = 60.0
    photos: str = ""
    photo_textures: float = 0.0
    context: float = 0.0
    backgrounds: float = 0.0
    hair: float = 0.0
    camera: float = 0.0
    mesh_crop: float = 0.0
    retinaface_crop: float = 0.0


def _random_expressions(model, n, rng):
    from ..datasets._synthetic_faces import EMOTION_RECIPES, expression_weights

    emotions = list(EMOTION_RECIPES)
    beta = np.zeros((n, model.n_expression))
    for i in range(n):
        if rng.random() < 0.7:
            beta[i] = expression_weights(model, emotions[rng.integers(len(emotions))], rng.uniform(0.3, 1.1))
        mask = rng.random(model.n_expression) < 0.1
        beta[i] += mask * rng.uniform(0, 0.6, model.n_expression)
    return np.clip(beta, 0, 1)


def photo_bank_for(cfg: TrainConfig, model: MorphableModel, progress: bool = True):
    """The :class:`~sk3dmm.render.PhotoBank` of ``cfg.photos`` (None without photos or switches)."""
    from ..datasets._folders import image_files
    from ..render import build_photo_bank

    if not cfg.photos or (cfg.photo_textures <= 0 and cfg.context <= 0):
        return None
    paths = sorted(p for f in cfg.photos.split(os.pathsep) if f for p in image_files(f))
    return build_photo_bank(paths, model, ict_template(model), RESCALE_CM, cfg.render_size, progress)


def _context_triangles(model: MorphableModel) -> torch.Tensor:
    """Triangles of the face, eyes and mouth (not the scalp, ears and neck): what is drawn
    over a context photo, whose own hair, ears and neck stay."""
    keep = np.zeros(model.n_vertices, bool)
    for name in ("face", "mouth_socket", "eyeball_left", "eyeball_right"):
        if name in model.regions:
            keep[model.region(name)] = True
    tri = np.asarray(model.triangles)
    return torch.as_tensor(tri[keep[tri].all(1)], dtype=torch.long)


def _training_retinaface():
    """RetinaFace as the cascade runs it on profiles (its long side, CPU)."""
    from ..faces import RetinaFace
    from ..faces.landmarkers._retinaface import RETINAFACE_LONG_SIDE

    return RetinaFace(long_side=RETINAFACE_LONG_SIDE)


def render_training_crops(
    n: int,
    cfg: TrainConfig,
    seed: int,
    model: MorphableModel | None = None,
    progress=True,
    bank=None,
):
    """Render ``n`` random faces and crop them as photos are cropped.

    The photo-like switches of ``cfg`` decide, per render, its albedo, background, context and
    degradations (``bank``: a :class:`~sk3dmm.render.PhotoBank`, default built from
    ``cfg.photos``). Returns crops, targets (the coefficients) and, for label-free losses,
    each crop's noisy 68 landmarks and camera in crop pixels (``landmarks``, ``focal``, ``center``).
    """
    from ..datasets._synthetic_faces import DISTANCE_MM, FRAME_FOCAL, HEAD_PIVOT_CM, _random_lighting
    from ..faces import MESH_TO_68
    from ..fitting import euler_to_matrix, matrix_to_euler
    from ..morphable import mediapipe_correspondence
    from ..render import degrade, hair_albedo, natural_backgrounds, render_faces

    model = load_ict_model() if model is None else model
    bank = photo_bank_for(cfg, model, progress) if bank is None else bank
    seed_int = check_random_state(seed).randint(2**31)
    rng = np.random.default_rng(seed_int)  # the plain renders' draws, in their original order
    photo_rng = np.random.default_rng([seed_int, 1])  # every photo-like draw
    size = cfg.render_size
    alpha = rng.standard_normal((n, model.n_identity))
    beta = _random_expressions(model, n, rng)
    angles = np.c_[
        rng.uniform(-cfg.yaw_max, cfg.yaw_max, n), rng.uniform(-15, 15, n), rng.uniform(-10, 10, n)
    ]
    gamma = np.stack([_random_lighting(rng) for _ in range(n)])
    n_param = min(n, 256)
    albedo = np.stack([ict_albedo(model, random_albedo_params(rng)) for _ in range(n_param)])
    which_albedo = rng.integers(n_param, size=n)
    albedo = np.concatenate([albedo, [hair_albedo(model, a, photo_rng) for a in albedo]])
    which_albedo += n_param * (photo_rng.random(n) < cfg.hair)
    n_bank = 0 if bank is None else len(bank)
    if n_bank and bank.canvases.shape[1] != size:
        raise ValueError(f"the photo bank's canvases are {bank.canvases.shape[1]} px; render_size is {size}")
    if n_bank:
        albedo = np.concatenate([albedo, bank.textures])
        photo_skin = photo_rng.random(n) < cfg.photo_textures
        which_albedo[photo_skin] = 2 * n_param + photo_rng.integers(n_bank, size=int(photo_skin.sum()))
    in_context = (photo_rng.random(n) < cfg.context) if n_bank else np.zeros(n, bool)
    context_of = photo_rng.integers(max(n_bank, 1), size=n)
    natural = photo_rng.random(n) < cfg.backgrounds
    background = rng.uniform(0.1, 0.9, (n, 3))
    distance = DISTANCE_MM / model.unit_mm
    pivot = torch.tensor(HEAD_PIVOT_CM) * 10 / model.unit_mm
    scale = rng.uniform(0.8, 1.2, n)
    focal = FRAME_FOCAL * size * scale
    center = np.tile(np.full(2, size / 2), (n, 1))
    offset = torch.tensor(np.c_[rng.uniform(-0.05, 0.05, (n, 2)) * distance, np.zeros(n)])
    rot, trans = pose_to_camera(*(torch.tensor(angles[:, i]) for i in range(3)), pivot, distance, offset)
    if in_context.any():  # the bank photo's fitted pose, turned a little about the head's centre
        c = context_of[in_context]
        small = np.deg2rad(
            np.c_[
                photo_rng.uniform(-12, 12, len(c)),
                photo_rng.uniform(-6, 6, len(c)),
                photo_rng.uniform(-6, 6, len(c)),
            ]
        )
        delta = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)) @ euler_to_matrix(
            *(torch.tensor(small[:, i]) for i in range(3))
        )
        r_c, t_c = (
            torch.tensor(bank.rotation[c], dtype=torch.float64),
            torch.tensor(bank.translation[c], dtype=torch.float64),
        )
        r_new = r_c @ delta
        rot[in_context] = r_new
        trans[in_context] = t_c + (r_c @ pivot.double()) - (r_new @ pivot.double())
        angles[in_context] = np.rad2deg(np.stack([a.numpy() for a in matrix_to_euler(r_new)], 1))
        focal[in_context] = bank.focal[c]
        center[in_context] = bank.center[c]
    corr = mediapipe_correspondence()
    crop_vertices = np.where(
        (photo_rng.random(n) < cfg.mesh_crop)[:, None],
        corr.vertex_ids[MESH_TO_68][None],
        model.landmark_indices[None],
    )
    needed, where = np.unique(np.r_[model.landmark_indices, crop_vertices.ravel()], return_inverse=True)
    cam = transform(model.vertices(torch.tensor(alpha), torch.tensor(beta), needed), rot, trans)
    f_t, c_t = torch.tensor(focal), torch.tensor(center)
    lm2 = project(cam[:, where[:68]], f_t, c_t).numpy()
    crop_at = torch.as_tensor(where[68:].reshape(n, 68))
    crop_pts = project(cam[torch.arange(n)[:, None], crop_at], f_t, c_t).numpy()
    noise = rng.normal(0, cfg.landmark_noise_px, lm2.shape)
    lm2, crop_pts = lm2 + noise, crop_pts + noise
    template = ict_template(model)
    crops = np.empty((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    affine = np.empty((n, 4))
    degrade_it = photo_rng.random(n) < cfg.camera
    on_keypoints = np.random.default_rng([seed_int, 2]).random(n) < cfg.retinaface_crop
    detector = _training_retinaface() if on_keypoints.any() else None
    context_tri = _context_triangles(model)
    table = torch.as_tensor(albedo, dtype=torch.float32)
    order = np.r_[np.flatnonzero(~in_context), np.flatnonzero(in_context)]
    n_plain = int((~in_context).sum())
    batches = [order[s : min(s + 64, n_plain)] for s in range(0, n_plain, 64)]
    batches += [order[s : s + 64] for s in range(n_plain, n, 64)]
    with torch.no_grad():
        for idx in tqdm(batches, desc="render", disable=not progress):
            ctx = bool(in_context[idx[0]])
            if ctx:
                bg = torch.tensor(bank.canvases[context_of[idx]], dtype=torch.float32) / 255
            elif natural[idx].any():
                bg = (
                    torch.tensor(background[idx], dtype=torch.float32)[:, None, None]
                    .expand(-1, size, size, -1)
                    .clone()
                )
                nat = np.flatnonzero(natural[idx])
                bg[nat] = torch.tensor(natural_backgrounds(len(nat), size, photo_rng))
            else:
                bg = torch.tensor(background[idx], dtype=torch.float32)
            out = render_faces(
                model,
                torch.as_tensor(alpha[idx], dtype=torch.float32),
                torch.as_tensor(beta[idx], dtype=torch.float32),
                table[which_albedo[idx]],
                torch.as_tensor(gamma[idx], dtype=torch.float32),
                rot[idx].float(),
                trans[idx].float(),
                torch.as_tensor(focal[idx], dtype=torch.float32),
                torch.as_tensor(center[idx], dtype=torch.float32),
                size,
                background=bg,
                triangles=context_tri if ctx else None,
            )
            image = out.image
            if ctx:  # feather the seam between the rendered face and the photo
                soft = torch.nn.functional.avg_pool2d(out.mask[:, None].float(), 5, 1, 2)[:, 0, ..., None]
                image = soft * image + (1 - soft) * bg
            imgs = (image.numpy() * 255 + 0.5).astype(np.uint8)
            imgs = [degrade(imgs[j], photo_rng) if degrade_it[i] else imgs[j] for j, i in enumerate(idx)]
            points = [crop_pts[i] for i in idx]
            wanted = [j for j, i in enumerate(idx) if on_keypoints[i]]
            if wanted:
                found = detector.detect_boxes([imgs[j] for j in wanted])
                for j, faces in zip(wanted, found):
                    if faces:
                        keypoints = max(faces, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))[2]
                        points[j] = five_as_68(keypoints)
            for j, i in enumerate(idx):
                crops[i], _, params = align_crop(imgs[j], points[j], template, INPUT_SIZE, RESCALE_CM)
                affine[i] = crop_affine(params, INPUT_SIZE)
    targets = {
        "id": alpha.astype(np.float32),
        "exp": beta.astype(np.float32),
        "angle": np.deg2rad(angles).astype(np.float32),
        "gamma": gamma.astype(np.float32),
    }
    crop_scale = (affine[:, 0] + affine[:, 1]) / 2
    in_crop = {
        "landmarks": (lm2 * affine[:, None, :2] + affine[:, None, 2:]).astype(np.float32),
        "focal": (focal * crop_scale).astype(np.float32),
        "center": (center * affine[:, :2] + affine[:, 2:]).astype(np.float32),
    }
    return crops, targets, in_crop


class ShapeLoss:
    """Squared vertex error of identity + expression over a subset of the face area (cm^2),
    plus angle (rad^2) and lighting terms."""

    def __init__(self, model: MorphableModel, step: int = 8, device="cpu"):
        idx = np.arange(0, 6706, step)
        self.mean = torch.tensor(model.mean[idx], device=device)
        self.basis_id = torch.tensor(
            model.identity_basis[:, idx].reshape(model.n_identity, -1), device=device
        )
        self.basis_exp = torch.tensor(
            model.expression_basis[:, idx].reshape(model.n_expression, -1), device=device
        )

    def __call__(self, pred: dict, target: dict) -> tuple[torch.Tensor, dict]:
        d_id = pred["id"] - target["id"]
        d_exp = pred["exp"] - target["exp"]
        dv = (d_id @ self.basis_id + d_exp @ self.basis_exp).reshape(len(d_id), -1, 3)
        shape = dv.square().sum(-1).mean()
        angle = (pred["angle"] - target["angle"]).square().sum(-1).mean()
        gamma = (pred["gamma"] - target["gamma"]).square().mean()
        coef = d_id.square().mean() * 0.01
        total = shape + 10.0 * angle + gamma + coef
        return total, {"shape_cm2": shape.item(), "angle": angle.item(), "gamma": gamma.item()}


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Photometric jitter: brightness, contrast, colour balance, noise."""
    b = len(x)
    bright = 1 + 0.25 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 2
    contrast = 1 + 0.25 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 2
    colour = 1 + 0.08 * (torch.rand(b, 3, 1, 1, generator=gen) - 0.5) * 2
    mean = x.mean((1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean) * bright * colour
    x = x + 0.015 * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1)


@dataclass
class HybridConfig:
    n_photos: int = 6000
    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-4
    hybrid_weight: float = 1.0
    landmark_weight: float = 1.6e-3
    render_size: int = 64
    seed: int = 1


def train_hybrid_stage(
    net: RNet, hcfg: HybridConfig, cfg: TrainConfig, model: MorphableModel, progress: bool = True
) -> dict:
    """Stage 2: supervised loss plus ``hybrid_weight`` x the hybrid loss, on fresh renders.

    Returns the stage's log, with the held-out shape error before and after it.
    """
    torch.manual_seed(hcfg.seed)
    t0 = time.perf_counter()
    crops, targets, in_crop = render_training_crops(
        hcfg.n_photos + cfg.n_valid, cfg, hcfg.seed, model, progress
    )
    render_s = time.perf_counter() - t0
    tr, va = np.arange(hcfg.n_photos), np.arange(hcfg.n_photos, hcfg.n_photos + cfg.n_valid)
    tgt = {k: torch.tensor(v) for k, v in targets.items()}
    scale = hcfg.render_size / INPUT_SIZE
    lm = torch.tensor(in_crop["landmarks"]) * scale
    focal = torch.tensor(in_crop["focal"]) * scale
    center = torch.tensor(in_crop["center"]) * scale
    shape_loss, hybrid = ShapeLoss(model), HybridLoss(model, landmark=hcfg.landmark_weight)
    valid_before = evaluate(net, crops[va], {k: v[va] for k, v in tgt.items()}, shape_loss)
    opt = torch.optim.Adam(net.parameters(), lr=hcfg.lr)
    gen = torch.Generator().manual_seed(hcfg.seed)
    log = {"config": asdict(hcfg), "render_seconds": render_s, "valid_before": valid_before, "epochs": []}
    for epoch in range(hcfg.epochs):
        net.train()
        _freeze_batchnorm(net)
        perm = tr[torch.randperm(len(tr), generator=gen).numpy()]
        t_ep, sums, count = time.perf_counter(), {}, 0
        for s in tqdm(
            range(0, len(perm) - hcfg.batch_size + 1, hcfg.batch_size),
            desc=f"hybrid epoch {epoch + 1}",
            disable=not progress,
        ):
            idx = perm[s : s + hcfg.batch_size]
            x = to_input(crops[idx])
            photos = photos_at(x, hcfg.render_size)
            pred = net.split(net(augment(x, gen)))
            sup, parts = shape_loss(pred, {k: v[idx] for k, v in tgt.items()})
            terms = hybrid_loss_of(pred, hybrid, False, photos, lm[idx], focal[idx], center[idx])
            loss = sup + hcfg.hybrid_weight * terms.total
            opt.zero_grad()
            loss.backward()
            opt.step()
            parts.update(hybrid=terms.total.item(), landmarks=terms.landmarks, photometric=terms.photometric)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
        valid = evaluate(net, crops[va], {k: v[va] for k, v in tgt.items()}, shape_loss)
        _log_epoch(log, epoch, t_ep, sums, count, valid)
    net.eval()
    return log


def _log_epoch(log: dict, epoch: int, t_start: float, sums: dict, count: int, valid: dict) -> None:
    """Append an epoch's mean training terms and validation terms to the log, and print it."""
    entry = {
        "epoch": epoch + 1,
        "seconds": time.perf_counter() - t_start,
        **{f"train_{k}": v / count for k, v in sums.items()},
        **{f"valid_{k}": v for k, v in valid.items()},
    }
    log["epochs"].append(entry)
    logger.info("%s", json.dumps(entry))


def save_rnet(net: RNet, cfg: TrainConfig, out_dir: str | Path, log: dict, name: str = "rnet_ict") -> Path:
    """Write ``{name}.pt``, its SHA-256 and the JSON training log into ``out_dir``."""
    from ..morphable._files import sha256_of

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.pt"
    torch.save(
        {
            "state_dict": net.state_dict(),
            "sizes": ICT_SIZES,
            "backbone": cfg.backbone,
            "width": cfg.width,
            "input_size": INPUT_SIZE,
            "rescale_factor": RESCALE_CM,
        },
        weights,
    )
    (out / f"{name}.sha256").write_text(f"{sha256_of(weights)}  {name}.pt\n")
    (out / f"{name}_training_log.json").write_text(json.dumps(log, indent=2))
    return weights


def train_rnet(cfg: TrainConfig, progress: bool = True, net: RNet | None = None) -> tuple[RNet, dict]:
    """Stage 1: render and train an R-Net with the supervised loss; returns it and its log.

    ``net``: continue from these weights (e.g. plain-render weights fine-tuned on photo-like
    renders) instead of a fresh network.
    """
    torch.manual_seed(cfg.seed)
    model = load_ict_model()
    t0 = time.perf_counter()
    crops, targets, _ = render_training_crops(cfg.n_train + cfg.n_valid, cfg, cfg.seed, model, progress)
    render_s = time.perf_counter() - t0
    net = RNet(ICT_SIZES, backbone=cfg.backbone, width=cfg.width) if net is None else net
    loss_fn = ShapeLoss(model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * (cfg.n_train // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(cfg.seed)
    tr, va = np.arange(cfg.n_train), np.arange(cfg.n_train, cfg.n_train + cfg.n_valid)
    tgt = {k: torch.tensor(v) for k, v in targets.items()}
    log = {"config": asdict(cfg), "render_seconds": render_s, "epochs": []}
    for epoch in range(cfg.epochs):
        net.train()
        perm = tr[torch.randperm(len(tr), generator=gen).numpy()]
        t_ep, sums, count = time.perf_counter(), {}, 0
        for s in tqdm(
            range(0, len(perm) - cfg.batch_size + 1, cfg.batch_size),
            desc=f"epoch {epoch + 1}",
            disable=not progress,
        ):
            idx = perm[s : s + cfg.batch_size]
            x = augment(to_input(crops[idx]), gen)
            pred = net.split(net(x))
            loss, parts = loss_fn(pred, {k: v[idx] for k, v in tgt.items()})
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
        valid = evaluate(net, crops[va], {k: v[va] for k, v in tgt.items()}, loss_fn)
        _log_epoch(log, epoch, t_ep, sums, count, valid)
    net.eval()
    return net, log


@torch.no_grad()
def evaluate(net: RNet, crops: np.ndarray, targets: dict, loss_fn: ShapeLoss) -> dict:
    net.eval()
    parts_all = []
    for s in range(0, len(crops), 256):
        pred = net.split(net(to_input(crops[s : s + 256])))
        _, parts = loss_fn(pred, {k: v[s : s + 256] for k, v in targets.items()})
        parts_all.append((len(pred["id"]), parts))
    total = sum(n for n, _ in parts_all)
    return {k: sum(n * p[k] for n, p in parts_all) / total for k in parts_all[0][1]}
