"""A KDEF-like face set rendered from the morphable model, with ground truth for every image."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.utils import Bunch, check_random_state

from ..fitting import project, transform
from ..morphable import MorphableModel, load_ict_model
from ..render import ict_albedo, pose_to_camera, random_albedo_params, render_faces_uint8
from ._kdef_names import ANGLES, EXPRESSIONS, GENDERS, kdef_name

# FACS-style recipes over ARKit blendshapes (EMFACS prototypes, e.g. happiness = AU6 + AU12).
EMOTION_RECIPES: dict[str, dict[str, float]] = {
    "afraid": {  # AU1+2+4+5+20+26
        "browInnerUp": 0.85,
        "browOuterUp": 0.45,
        "browDown": 0.2,
        "eyeWide": 0.9,
        "mouthStretch": 0.7,
        "jawOpen": 0.25,
    },
    "angry": {  # AU4+5+7+23
        "browDown": 0.95,
        "eyeSquint": 0.5,
        "eyeWide": 0.2,
        "mouthPress": 0.7,
        "noseSneer": 0.3,
        "mouthRollLower": 0.2,
    },
    "disgusted": {  # AU9+15+16
        "noseSneer": 0.95,
        "mouthUpperUp": 0.8,
        "mouthFrown": 0.4,
        "browDown": 0.4,
        "cheekSquint": 0.4,
        "mouthLowerDown": 0.3,
    },
    "happy": {"mouthSmile": 0.9, "cheekSquint": 0.6, "eyeSquint": 0.35, "mouthUpperUp": 0.15},  # AU6+12
    "neutral": {},
    "sad": {"browInnerUp": 0.8, "mouthFrown": 0.85, "mouthShrugLower": 0.4, "eyeSquint": 0.15},  # AU1+4+15
    "surprised": {"browInnerUp": 0.9, "browOuterUp": 0.9, "eyeWide": 0.85, "jawOpen": 0.65},  # AU1+2+5+26
}

FRAME_FOCAL = 2.5  # focal length per image side at the default distance: head and neck fill the frame
DISTANCE_MM = 1000.0
HEAD_PIVOT_CM = (0.0, -1.0, 1.0)  # turn the head about its centre, not the model origin


def expression_weights(model: MorphableModel, emotion: str, intensity: float) -> np.ndarray:
    """Blendshape weights of an emotion recipe; ``_L``/``_R`` pairs get the same weight."""
    names = model.expression_names
    beta = np.zeros(model.n_expression)
    for shape, w in EMOTION_RECIPES[emotion].items():
        idx = [i for i, n in enumerate(names) if n == shape or n in (f"{shape}_L", f"{shape}_R")]
        if not idx:
            raise KeyError(f"model {model.name} has no blendshape {shape}")
        beta[idx] = w * intensity
    return beta


def _random_lighting(rng: np.random.Generator) -> np.ndarray:
    """27 SH coefficients: a coloured ambient, a random key light direction, mild 2nd band."""
    gamma = np.zeros((3, 9))
    tint = rng.uniform(0.92, 1.08, 3)
    gamma[:, 0] = rng.uniform(0.05, 0.35) + (tint - 1) * 0.5
    direction = rng.normal(0, 1, 3) * [1.0, 0.6, 0.3] + [0, 0.2, 0.6]
    direction /= np.linalg.norm(direction)
    strength = rng.uniform(0.15, 0.45)
    # order of the linear band in sh_basis: -y, z, -x
    gamma[:, 1:4] = strength * np.array([-direction[1], direction[2], -direction[0]]) * tint[:, None]
    gamma[:, 4:] = rng.normal(0, 0.03, 5)
    return gamma.reshape(27)


def make_synthetic_faces(
    n_identities: int = 70,
    *,
    image_size: int = 256,
    expressions: tuple[str, ...] | None = None,
    angles: tuple[str, ...] | None = None,
    model: MorphableModel | None = None,
    intensity_range: tuple[float, float] = (0.7, 1.1),
    angle_jitter: float = 3.0,
    gender_shift: float = 0.0,
    repeats: int = 1,
    random_state=0,
    batch_size: int = 64,
    progress: bool = False,
) -> Bunch:
    """Render a KDEF-like set: each identity shows 7 emotions at 5 yaw angles.

    Identities draw ``alpha ~ N(0, 1)`` and an albedo (skin tone, lips, brows, iris); every
    image draws its emotion intensity, a little blendshape noise, a jitter of the KDEF angle
    (FL, HL, S, HR, FR = -90, -45, 0, 45, 90 degrees of yaw), its lighting and background.
    Deterministic for a given ``random_state``.

    Parameters
    ----------
    n_identities : int, default=70
        People; the first half are labelled female (``AF01``...), the rest male, as in KDEF.
    image_size : int, default=256
    expressions : tuple of KDEF codes, default all seven (AF, AN, DI, HA, NE, SA, SU)
    angles : tuple of KDEF codes, default all five (FL, HL, S, HR, FR)
    model : MorphableModel, default the embedded ICT model
    intensity_range : emotion intensity multiplier range
    angle_jitter : float, degrees of uniform jitter on yaw, pitch and roll
    gender_shift : float, default=0.0
        Makes gender visible in face shape: female identities get ``alpha -= s * d``, male
        ``alpha += s * d``, for a fixed random unit direction ``d`` over the first 20 identity
        modes (so the two group means are ``2 s`` standard deviations apart). 0 leaves gender a
        label only.
    repeats : int, default=1
        Photos per (expression, angle), each with its own intensity, jitter and lighting;
        more photos per person for set experiments (KDEF has one).
    random_state : int, RandomState or None
    batch_size : images rendered together
    progress : bool, show a progress bar

    Returns
    -------
    Bunch with
        images : (n, image_size, image_size, 3) uint8
        frame : DataFrame, one row per image: identity, gender, expression (name), expression_code,
            angle (KDEF code), yaw, pitch, roll (degrees), filename (KDEF name)
        alpha, beta : true coefficients; pose : (n, 6) yaw, pitch, roll (deg), tx, ty, tz (mm)
        gamma : (n, 27) lighting; landmarks : (n, 68, 2) true projected landmarks (pixels)
        rotation, translation, focal, center : the camera of each image
        render_seconds : wall time spent rendering

    Examples
    --------
    >>> from sk3dmm.datasets import make_synthetic_faces
    >>> faces = make_synthetic_faces(2, image_size=64, expressions=("HA", "NE"), angles=("S", "HL"))
    >>> faces.images.shape, faces.alpha.shape, faces.frame["expression"].unique().tolist()
    ((8, 64, 64, 3), (8, 100), ['happy', 'neutral'])
    """
    model = load_ict_model() if model is None else model
    expressions = tuple(EXPRESSIONS) if expressions is None else tuple(expressions)
    angles = tuple(ANGLES) if angles is None else tuple(angles)
    bad = [e for e in expressions if e not in EXPRESSIONS] + [a for a in angles if a not in ANGLES]
    if bad:
        raise ValueError(f"unknown KDEF codes {bad}; expressions {list(EXPRESSIONS)}, angles {list(ANGLES)}")
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31))

    rows, alphas, betas, person_index, gammas, poses, backgrounds = [], [], [], [], [], [], []
    person_albedo = []
    half = (n_identities + 1) // 2
    lo, hi = model.expression_bounds or (-np.inf, np.inf)
    direction = np.zeros(model.n_identity)
    direction[:20] = np.random.default_rng(12345).standard_normal(20)
    direction /= np.linalg.norm(direction)
    for person in range(n_identities):
        gender = "F" if person < half else "M"
        number = person + 1 if person < half else person - half + 1
        identity = f"A{gender}{number:02d}"
        alpha = (
            rng.standard_normal(model.n_identity) + (1 if gender == "M" else -1) * gender_shift * direction
        )
        person_albedo.append(ict_albedo(model, random_albedo_params(rng)))
        for e, a, _ in itertools.product(expressions, angles, range(repeats)):
            beta = expression_weights(model, EXPRESSIONS[e], rng.uniform(*intensity_range))
            noise = np.abs(rng.normal(0, 0.06, model.n_expression)) * (rng.random(model.n_expression) < 0.15)
            yaw = ANGLES[a] + rng.uniform(-1, 1) * angle_jitter
            pitch, roll = rng.uniform(-1, 1, 2) * angle_jitter
            gender_name = GENDERS[gender]
            name = kdef_name("A", gender, number, e, a)
            rows.append((identity, gender_name, EXPRESSIONS[e], e, a, yaw, pitch, roll, name))
            alphas.append(alpha)
            betas.append(np.clip(beta + noise, lo, hi))
            person_index.append(person)
            gammas.append(_random_lighting(rng))
            poses.append((yaw, pitch, roll, *rng.uniform(-0.02, 0.02, 2)))
            backgrounds.append(rng.uniform(0.25, 0.85) * rng.uniform(0.9, 1.1, 3))
    columns = [
        "identity",
        "gender",
        "expression",
        "expression_code",
        "angle",
        "yaw",
        "pitch",
        "roll",
        "filename",
    ]
    frame = pd.DataFrame(rows, columns=columns)

    n = len(frame)
    pose = np.array(poses)
    distance = DISTANCE_MM / model.unit_mm
    focal = FRAME_FOCAL * image_size
    center = np.full(2, image_size / 2.0)
    offset = torch.tensor(np.c_[pose[:, 3:5] * distance, np.zeros(n)])
    pivot = torch.tensor(HEAD_PIVOT_CM) * 10 / model.unit_mm
    angles_t = (torch.tensor(pose[:, i]) for i in range(3))
    rot, trans = pose_to_camera(*angles_t, pivot, distance, offset)
    alpha_np, beta_np, gamma_np = np.array(alphas), np.array(betas), np.array(gammas)
    bg = np.array(backgrounds, dtype=np.float32)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    t0 = time.perf_counter()
    batches = render_faces_uint8(
        model,
        alpha_np,
        beta_np,
        np.array(person_albedo),
        person_index,
        gamma_np,
        rot,
        trans,
        focal,
        center,
        image_size,
        bg,
        batch_size,
        progress,
    )
    for sl, imgs in batches:
        images[sl] = imgs
    seconds = time.perf_counter() - t0
    lm3 = model.landmarks(torch.tensor(alpha_np), torch.tensor(beta_np))
    landmarks = project(
        transform(lm3, rot, trans),
        torch.full((n,), focal, dtype=torch.float64),
        torch.tensor(center).expand(n, 2),
    )
    return Bunch(
        images=images,
        frame=frame,
        alpha=alpha_np.astype(np.float32),
        beta=beta_np.astype(np.float32),
        pose=np.c_[pose[:, :3], trans.numpy() * model.unit_mm].astype(np.float32),
        gamma=gamma_np.astype(np.float32),
        landmarks=landmarks.numpy().astype(np.float32),
        rotation=rot.numpy(),
        translation=trans.numpy(),
        focal=np.full(n, focal),
        center=np.tile(center, (n, 1)),
        render_seconds=seconds,
    )


def write_kdef_folder(faces: Bunch, root: str | Path, quality: int = 92) -> list[Path]:
    """Write a synthetic set in KDEF's layout, ``root/AF01/AF01AFS.JPG``, and return the paths."""
    from PIL import Image

    root = Path(root)
    paths = []
    for img, name in zip(faces.images, faces.frame["filename"]):
        folder = root / name[:4]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        Image.fromarray(img).save(path, format="JPEG", quality=quality)
        paths.append(path)
    return paths
