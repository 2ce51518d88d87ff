"""Photos to coefficients: the stages composed, top to bottom."""

from __future__ import annotations

from dataclasses import dataclass

from ._cache import StageCache
from ._detect import CropFace, DetectFace
from ._errors import SAMPLE_ERRORS, raise_sample_error
from ._policy import ErrorPolicy
from ._records import Photo, Reconstruction


@dataclass(frozen=True)
class Stages:
    """What a method runs: find the face, crop it, then each regressor in turn (see
    :mod:`sk3dmm.regressors`)."""

    detect: DetectFace
    crop: CropFace
    regressors: tuple


def reconstruct_photos(
    samples: dict[int, object], names: dict[int, str], stages: Stages, policy: ErrorPolicy, cache: StageCache
) -> dict[int, Reconstruction]:
    """Photos (arrays, paths or file objects, by index) to a :class:`Reconstruction` each:
    load -> detect -> crop -> each regressor of the method -> records.

    Every stage runs only for the photos its cache does not hold (keys chained from the photo's
    digest), and the policy applies to every stage, per photo: a photo that fails drops out
    with its reason in ``policy.failures`` (or stops the batch under ``"raise"``).
    """
    photos, read_error = load_photos(samples, names, policy)
    keys = {i: photo.digest for i, photo in photos.items()}
    detections, keys = cache.run(
        stages.detect, keys, lambda todo: policy.each(stages.detect, {i: (photos[i],) for i in todo}, names)
    )
    crops, keys = cache.run(
        stages.crop,
        keys,
        lambda todo: policy.each(stages.crop, {i: (photos[i], detections[i]) for i in todo}, names),
    )
    coefs = dict.fromkeys(crops)
    for regressor in stages.regressors:
        inputs = {i: (detections[i], crops[i], coefs[i]) for i in keys}
        coefs, keys = cache.run(
            regressor,
            keys,
            lambda todo, r=regressor, x=inputs: policy.batched(r, {i: x[i] for i in todo}, names),
        )
    if read_error is not None:  # under "raise", after the photos before it: the first failure wins
        raise_sample_error(read_error)
    return {i: Reconstruction.assemble(detections[i], crops[i], coefs[i]) for i in coefs}


def load_photos(samples: dict[int, object], names: dict[int, str], policy: ErrorPolicy):
    """The samples decoded as :class:`Photo` records, and (under ``"raise"``) the read error
    that stopped the reading, to be raised once the photos before it are done."""
    photos = {}
    for i, item in samples.items():
        try:
            photos[i] = Photo.load(item, i, names[i])
        except SAMPLE_ERRORS as exc:
            if policy.raises:
                return photos, exc
            policy.fail(i, names[i], "reading", exc)
    return photos, None
