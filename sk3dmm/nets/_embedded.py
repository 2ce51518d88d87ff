"""Loading R-Net weights: the embedded ICT R-Net, sk3dmm checkpoints, Deep3DFaceRecon's."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..exceptions import ModelFileError
from ..morphable import MorphableModel
from ..morphable._files import load_checkpoint, sha256_of, verified_path
from ._rnet import RNet

DATA_DIR = Path(__file__).resolve().parent / "data"
EMBEDDED_WEIGHTS = DATA_DIR / "rnet_ict.pt"


@dataclass
class RNetBundle:
    """An R-Net with what it needs around it: crop size, framing and template."""

    net: RNet
    input_size: int
    rescale_factor: float
    template5: np.ndarray
    source: str


def _sk3dmm_checkpoint(path: Path, model: MorphableModel, template5: np.ndarray | None) -> RNetBundle:
    from ._rnet_training import ict_template

    ckpt = load_checkpoint(path, "R-Net weights")
    if isinstance(ckpt, dict) and "net_recon" in ckpt:
        from ._deep3d import load_deep3d_rnet

        if template5 is None:
            raise ModelFileError(
                "a Deep3DFaceRecon checkpoint needs template= (similarity_Lm3D_all.mat from its BFM folder)"
            )
        return RNetBundle(load_deep3d_rnet(path), 224, 102.0, template5, f"Deep3DFaceRecon {path.name}")
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "sizes" not in ckpt:
        raise ModelFileError(f"{path} is neither an sk3dmm R-Net checkpoint nor a Deep3DFaceRecon one")
    sizes = dict(ckpt["sizes"])
    net = RNet(sizes, backbone=ckpt["backbone"], width=ckpt.get("width"))
    try:
        net.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise ModelFileError(
            f"{path}: weights do not match their declared network: {str(exc)[:300]}"
        ) from exc
    tpl = template5 if template5 is not None else ict_template(model)
    return RNetBundle(
        net.eval(), int(ckpt["input_size"]), float(ckpt["rescale_factor"]), tpl, f"sk3dmm {path.name}"
    )


@lru_cache(maxsize=4)
def _cached(path: str, model: MorphableModel, template_key) -> RNetBundle:
    template5 = None if template_key is None else np.asarray(template_key)
    bundle = _sk3dmm_checkpoint(Path(path), model, template5)
    sizes = bundle.net.sizes
    if sizes.get("id") != model.n_identity or sizes.get("exp") != model.n_expression:
        raise ModelFileError(
            f"{path} regresses {sizes.get('id')} identity / {sizes.get('exp')} expression coefficients, "
            f"but the model ({model.name}) has {model.n_identity} / {model.n_expression}: pass the "
            "morphable model the weights were trained for (model=BFM_model_front.mat for Deep3DFaceRecon)"
        )
    # the weights' content, not only their name, keys the per-image cache
    return replace(bundle, source=f"{bundle.source} ({sha256_of(Path(path))[:16]})")


def load_rnet(weights: str | Path | None, model: MorphableModel, template=None) -> RNetBundle:
    """The R-Net for ``model``: the embedded one (ICT, checksum-verified) when ``weights`` is
    None, else the user's file (an sk3dmm checkpoint or Deep3DFaceRecon's ``epoch_20.pth``).

    ``template``: path to ``similarity_Lm3D_all.mat`` or a (5, 3) array, for Deep3DFaceRecon.
    """
    if weights is None:
        if model.name != "ICT-FaceKit light":
            raise ModelFileError(f"the embedded R-Net is for the ICT model; pass weights= for {model.name}")
        weights = verified_path(EMBEDDED_WEIGHTS, EMBEDDED_WEIGHTS.with_suffix(".sha256"))
    if template is not None and not isinstance(template, np.ndarray):
        from ._deep3d import load_deep3d_template

        template = load_deep3d_template(template)
    key = None if template is None else tuple(map(tuple, np.asarray(template)))
    return _cached(str(weights), model, key)
