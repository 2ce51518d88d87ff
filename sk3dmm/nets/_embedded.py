"""Loading R-Net weights: the embedded ICT R-Net, sk3dmm checkpoints, Deep3DFaceRecon's."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..exceptions import ModelFileError
from ..morphable import MorphableModel
from ..morphable._files import (
    check_embedded_digest,
    load_checkpoint,
    sha256_of,
    shipped_sha256,
    verified_path,
)
from ._rnet import RNet
from ._rnet_io import ict_template

DATA_DIR = Path(__file__).resolve().parent / "data"
EMBEDDED_WEIGHTS = DATA_DIR / "rnet_ict.pt"
PROFILE_WEIGHTS = DATA_DIR / "rnet_ict_profile.pt"


@dataclass
class RNetBundle:
    """An R-Net with what it needs around it: crop size, framing and template."""

    net: RNet
    input_size: int
    rescale_factor: float
    template5: np.ndarray
    source: str
    # (file name, its SHA-256, the model and template it was loaded for, content digest) for
    # the embedded R-Net; set by load_rnet, never by __init__, so a copy made with
    # dataclasses.replace (as fine-tuning makes) does not claim to be the embedded file
    _embedded: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def _content_digest(self) -> str:
        """SHA-256 of the network's weights and the crop settings."""
        h = hashlib.sha256(
            repr((self.input_size, self.rescale_factor, self.source, self.net.training)).encode()
        )
        h.update(np.ascontiguousarray(self.template5, dtype=np.float64).data)
        for name, value in self.net.state_dict().items():
            h.update(f"{name}{value.dtype}{tuple(value.shape)}".encode())
            h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().data)
        return h.hexdigest()

    def __reduce_ex__(self, protocol):
        """The embedded R-Net, unchanged since it was loaded, pickles as its file name and
        SHA-256 (and the model it was loaded for) and is reloaded on unpickling; any other in full."""
        if self._embedded is not None and self._content_digest() == self._embedded[4]:
            return rnet_from_pickle, self._embedded[:4]
        return super().__reduce_ex__(protocol)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_embedded": None}

    def __copy__(self) -> RNetBundle:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict) -> RNetBundle:
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new


def _sk3dmm_checkpoint(path: Path, model: MorphableModel, template5: np.ndarray | None) -> RNetBundle:
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
    embedded = weights is None
    if weights is None:
        if model.name != "ICT-FaceKit light":
            raise ModelFileError(f"the embedded R-Net is for the ICT model; pass weights= for {model.name}")
        weights = verified_path(EMBEDDED_WEIGHTS, EMBEDDED_WEIGHTS.with_suffix(".sha256"))
    if template is not None and not isinstance(template, np.ndarray):
        from ._deep3d import load_deep3d_template

        template = load_deep3d_template(template)
    key = None if template is None else tuple(map(tuple, np.asarray(template)))
    bundle = _cached(str(weights), model, key)
    if embedded and bundle._embedded is None:  # pickles name the verified file, not its 11 MB
        sha = shipped_sha256(EMBEDDED_WEIGHTS.with_suffix(".sha256"))
        bundle._embedded = (EMBEDDED_WEIGHTS.name, sha, model, template, bundle._content_digest())
    return bundle


def rnet_from_pickle(name: str, sha256: str, model: MorphableModel, template) -> RNetBundle:
    """Unpickle the embedded R-Net stored by name: the cached :func:`load_rnet` for ``model``,
    after checking that the installed file is the one the pickle was made with.

    Pickles name this function: keep its module, name and arguments.

    Raises
    ------
    ModelFileError
        If this installation does not ship ``name`` or ships another version of it.
    """
    if name != EMBEDDED_WEIGHTS.name:
        raise ModelFileError(
            f"this pickle names embedded R-Net weights {name!r} that this sk3dmm installation does not "
            f"ship (it has {EMBEDDED_WEIGHTS.name}); unpickle it with the sk3dmm version that made it"
        )
    bundle = load_rnet(None, model, template)
    check_embedded_digest("R-Net weights", name, sha256, bundle._embedded[1])
    return bundle


def load_profile_rnet(model: MorphableModel) -> RNetBundle:
    """The embedded profile R-Net for the ICT model (checksum-verified): trained on renders
    across +-90 degrees of yaw, each cropped on the five keypoints RetinaFace finds in it and
    not turned level, as :class:`~sk3dmm.Reconstruct3DMM` crops a face whose mesh is unusable
    (``tools/train_embedded_rnet.py``, ``rnet_ict_profile_training_log.json``)."""
    if model.name != "ICT-FaceKit light":
        raise ModelFileError(f"the embedded profile R-Net is for the ICT model, not {model.name}")
    return _verified_profile_rnet(model)


@lru_cache(maxsize=2)
def _verified_profile_rnet(model: MorphableModel) -> RNetBundle:
    """The profile R-Net, its file checked once per process (every ``transform`` builds its
    stages, and hashing 11 MB took 7 ms)."""
    weights = verified_path(PROFILE_WEIGHTS, PROFILE_WEIGHTS.with_suffix(".sha256"))
    return _cached(str(weights), model, None)
