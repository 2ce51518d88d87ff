"""``beta`` from MediaPipe's blendshape network: its 52 scores (``detector="mediapipe_v2"``)
mapped by name onto the model's ARKit-named expression blendshapes (ICT-FaceKit's 53).

The rule, by name: ``eyeBlinkLeft`` -> ``eyeBlink_L`` and so on (MediaPipe's "Left" and ICT's
"_L" are both the subject's own left: checked on the networks, tests/test_blendshapes.py);
a score without a side whose blendshape the model splits in two (``browInnerUp``,
``cheekPuff``) goes to both halves; ``_neutral`` is not a blendshape (MediaPipe: "ignore it";
it is about one minus the face's activity) and is left out. Its raw score stays reachable with
``coef=(..., "blendshape_scores")``.
"""

from __future__ import annotations

import functools

import numpy as np

from ..faces import MEDIAPIPE_BLENDSHAPES
from ..pipeline._records import Coefficients
from ._settings import RegressionSettings


def blendshape_mapping(expression_names: list[str]) -> np.ndarray:
    """(n_expression,) index of the MediaPipe score that sets each of the model's blendshapes.

    Raises
    ------
    ValueError
        Where a blendshape has no score of that name (the model is not ARKit-named).
    """
    return _mapping(tuple(expression_names)).copy()


@functools.lru_cache(maxsize=8)
def _mapping(expression_names: tuple[str, ...]) -> np.ndarray:
    """:func:`blendshape_mapping`, made once per set of names (each transform builds the regressor)."""
    index = {name: i for i, name in enumerate(MEDIAPIPE_BLENDSHAPES)}
    out, missing = [], []
    for name in expression_names:
        base, side = (
            (name[:-2], {"_L": "Left", "_R": "Right"}[name[-2:]]) if name[-2:] in ("_L", "_R") else (name, "")
        )
        found = index.get(base + side, index.get(base))
        if found is None:
            missing.append(name)
        out.append(found)
    if missing:
        raise ValueError(
            f"MediaPipe's blendshape scores name no blendshape {missing[:5]} of this model: methods "
            "reading them need an ARKit-named expression basis (the embedded ICT-FaceKit model)"
        )
    return np.asarray(out, dtype=np.int64)


def scores_to_beta(scores: np.ndarray, expression_names: list[str]) -> np.ndarray:
    """(n, 52) MediaPipe scores -> (n, n_expression) ``beta`` (see the module's docstring)."""
    return np.asarray(scores, dtype=np.float32)[..., blendshape_mapping(list(expression_names))]


class BlendshapeRegressor:
    """``beta`` set from the face's blendshape scores; ``alpha`` (and R-Net's angles and
    features) kept from the regressor before it, or the mean face's.

    With ``required=False`` a face without scores (a detector that gives none), or a model
    whose blendshapes the scores do not name (the Basel model), gets the neutral face's
    ``beta`` instead of an error: a later fit then centres its prior on the neutral face, as
    ``method="landmarks"`` does."""

    name = "the blendshape scores"
    reads_crops = False
    reads_blendshapes = True

    def __init__(self, settings: RegressionSettings, required: bool = True):
        self.settings, self.required = settings, required
        model = settings.model
        try:
            self.mapping = blendshape_mapping(list(model.expression_names))
        except ValueError:
            if required:
                raise
            self.mapping = None
        self.key = f"blendshapes|required={required}|{model.fingerprint}"

    def __call__(self, items: list[tuple]) -> list[Coefficients]:
        n_id = self.settings.model.n_identity
        out = []
        for detection, _, previous in items:
            beta = self._beta(detection.found.extras.get("blendshape_scores"), detection.found.scheme)
            alpha = np.zeros(n_id, dtype=np.float32) if previous is None else previous.alpha
            out.append(
                Coefficients(
                    alpha=alpha,
                    beta=beta,
                    angles=None if previous is None else previous.angles,
                    features=None if previous is None else previous.features,
                )
            )
        return out

    def _beta(self, scores, scheme: str) -> np.ndarray:
        model = self.settings.model
        if scores is not None and self.mapping is not None:
            return np.asarray(scores, dtype=np.float32)[self.mapping]
        if self.required:
            raise ValueError(
                f"the detector's faces ({scheme}) carry no blendshape scores: use detector='mediapipe_v2'"
            )
        lo, hi = model.expression_bounds if model.expression_bounds is not None else (-np.inf, np.inf)
        return np.full(model.n_expression, min(max(0.0, lo), hi), dtype=np.float32)


class OptionalBlendshapeRegressor(BlendshapeRegressor):
    """:class:`BlendshapeRegressor` that gives the neutral face where there are no scores."""

    reads_blendshapes = False  # any detector will do

    def __init__(self, settings: RegressionSettings):
        super().__init__(settings, required=False)
