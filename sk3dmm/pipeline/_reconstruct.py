"""Photos to coefficients: the stages composed, top to bottom."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from ._cache import StageCache
from ._detect import CropFace, DetectFace
from ._errors import SAMPLE_ERRORS, raise_sample_error
from ._policy import ErrorPolicy, caller_backend, in_workers
from ._records import Photo, Reconstruction


@dataclass(frozen=True)
class Stages:
    """What a method runs: find the face, crop it, then each regressor in turn (see
    :mod:`sk3dmm.regressors`)."""

    detect: DetectFace
    crop: CropFace
    regressors: tuple


@dataclass
class Prepared:
    """A batch after its per-photo stages: the photos, their detections and crops, the cache
    keys reached, and (under ``"raise"``) the read error to raise once the batch is done."""

    photos: dict
    detections: dict
    crops: dict
    keys: dict
    read_error: BaseException | None


def reconstruct_photos(
    samples: dict[int, object], names: dict[int, str], stages: Stages, policy: ErrorPolicy, cache: StageCache
) -> dict[int, Reconstruction]:
    """Photos (arrays, paths or file objects, by index) to a :class:`Reconstruction` each:
    load -> detect -> crop (:func:`prepare_photos`) -> each regressor of the method ->
    records (:func:`regress_photos`).

    Every stage runs only for the photos its cache does not hold (keys chained from the photo's
    digest), and the policy applies to every stage, per photo: a photo that fails drops out
    with its reason in ``policy.failures`` (or stops the batch under ``"raise"``).
    """
    return regress_photos(prepare_photos(samples, names, stages, policy, cache), names, stages, policy, cache)


def prepare_photos(
    samples: dict[int, object], names: dict[int, str], stages: Stages, policy: ErrorPolicy, cache: StageCache
) -> Prepared:
    """The per-photo stages of a batch: load, detect and crop (in the policy's joblib workers)."""
    photos, read_error = load_photos(samples, names, policy)
    keys = cache.photo_keys(photos)
    detections, keys = cache.run(
        stages.detect, keys, lambda todo: policy.each(stages.detect, {i: (photos[i],) for i in todo}, names)
    )
    crops, keys = cache.run(
        stages.crop,
        keys,
        lambda todo: policy.each(stages.crop, {i: (photos[i], detections[i]) for i in todo}, names),
    )
    return Prepared(photos, detections, crops, keys, read_error)


def regress_photos(
    prepared: Prepared, names: dict[int, str], stages: Stages, policy: ErrorPolicy, cache: StageCache
) -> dict[int, Reconstruction]:
    """The batched stages of a prepared batch: each regressor in turn, then the records."""
    detections, crops, keys = prepared.detections, prepared.crops, prepared.keys
    coefs = dict.fromkeys(crops)
    for regressor in stages.regressors:
        inputs = {i: (detections[i], crops[i], coefs[i]) for i in keys}
        coefs, keys = cache.run(
            regressor,
            keys,
            lambda todo, r=regressor, x=inputs: policy.batched(r, {i: x[i] for i in todo}, names),
        )
    if prepared.read_error is not None:  # under "raise", after the photos before it: the first failure wins
        raise_sample_error(prepared.read_error)
    return {i: Reconstruction.assemble(detections[i], crops[i], coefs[i]) for i in coefs}


def reconstruct_batches(
    batches: Iterable[dict[int, object]],
    names: dict[int, str],
    stages: Stages,
    policy: ErrorPolicy,
    cache: StageCache,
) -> Iterator[tuple[int, dict[int, Reconstruction]]]:
    """:func:`reconstruct_photos` of consecutive batches, overlapped: while the regressors run
    on one batch, a background thread loads, detects and crops the next (so decoding and
    detection are not idle while the fit runs). Yields (batch size, results) in order; the
    results are those of the batches run one after another (each stage is per photo or per
    batch, and the batches are the same). Under a joblib backend set by the caller (e.g.
    dask's), whose workers do the per-photo stages, the batches run one after another."""
    batches = iter(batches)
    first = next(batches, None)
    following = next(batches, None)
    if following is None or caller_backend():
        # one batch (nothing to overlap), or a caller's backend: joblib's configuration is per thread
        for batch in (b for b in (first, following) if b is not None):
            yield len(batch), reconstruct_photos(batch, names, stages, policy, cache)
        for batch in batches:
            yield len(batch), reconstruct_photos(batch, names, stages, policy, cache)
        return
    pending = (first, _PREPARER.submit(prepare_photos, first, names, stages, policy, cache))
    for batch in itertools.chain([following], batches):
        ahead = _PREPARER.submit(prepare_photos, batch, names, stages, policy, cache)
        try:
            done = regress_photos(pending[1].result(), names, stages, policy, cache)
        except BaseException:
            wait([ahead])  # the next batch's preparation ends before the error leaves
            raise
        yield len(pending[0]), done
        pending = (batch, ahead)
    yield len(pending[0]), regress_photos(pending[1].result(), names, stages, policy, cache)


# one long-lived worker (its LiteRT interpreters and torch state are kept between calls)
_PREPARER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sk3dmm-prepare")


def load_photos(samples: dict[int, object], names: dict[int, str], policy: ErrorPolicy):
    """The samples decoded as :class:`Photo` records, and (under ``"raise"``) the read error
    that stopped the reading, to be raised once the photos before it are done. Decoded in
    the policy's joblib workers (threads: the JPEG decoder releases the GIL)."""
    loaded = in_workers(policy.n_jobs, _try_load, [(item, i, names[i]) for i, item in samples.items()])
    photos = {}
    for i, value in zip(samples, loaded):
        if not isinstance(value, BaseException):
            photos[i] = value
        elif policy.raises:
            return photos, value
        else:
            policy.fail(i, names[i], "reading", value)
    return photos, None


def _try_load(item, index: int, name: str):
    try:
        return Photo.load(item, index, name)
    except SAMPLE_ERRORS as exc:
        return exc
