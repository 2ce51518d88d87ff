"""Reconstruct3DMM: face photos in, 3DMM coefficients out (a thin scikit-learn face over
:func:`sk3dmm.pipeline.reconstruct_photos`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from tqdm.auto import tqdm

from ..faces import FACE_CHOICES, LANDMARKERS, as_image_list, column_values
from ..morphable import MorphableModel
from ..pipeline import (
    CropFace,
    DetectFace,
    ErrorPolicy,
    Reconstruction,
    StageCache,
    Stages,
    reconstruct_batches,
    result_caches,
)
from ..pipeline._errors import ON_ERROR, describe_sample
from ..regressors import RegressionSettings, build_regressors, method_regressors, uses_rnet
from ..regressors._profile_rnet import ProfileRNetRegressor
from ._blocks import feature_names, normalize_coef
from ._image_sets import ImageSet, is_set_input
from ._landmark_fitter import resolve_device
from ._model_choice import resolve_model
from ._output import wrap_output


def photo_crop_spec(model: MorphableModel, size: int = 112) -> tuple[np.ndarray, int, float]:
    """Template, size and framing of the 5-point crop kept for methods without R-Net: the
    embedded R-Net's framing (Deep3DFaceRecon's 102 px per decimetre at 224 px)."""
    from ..nets._rnet_io import ict_template

    if model.fingerprint not in _TEMPLATES:  # every transform builds its stages
        _TEMPLATES[model.fingerprint] = ict_template(model)
    return _TEMPLATES[model.fingerprint], size, 102.0 * model.unit_mm / 100.0 * size / 224.0


_TEMPLATES: dict[str, np.ndarray] = {}  # ict_template by model fingerprint


def _profile_rnet_applies(model: MorphableModel, spec: tuple) -> bool:
    """Whether ``profiles="network"`` can run: the embedded ICT model, and the method's crop framed
    as the profile R-Net's (another R-Net's crop, e.g. Deep3DFaceRecon's 224 px, is not)."""
    if model.name != "ICT-FaceKit light":
        return False
    template, size, rescale = photo_crop_spec(model)
    return spec[1] == size and spec[2] == rescale and np.array_equal(spec[0], template)


@dataclass
class _Setup:
    """What ``fit`` prepares, also built on the fly by a transform before fit (without setting
    fitted attributes, as for scikit-learn's stateless transformers)."""

    model: MorphableModel
    blocks: tuple[str, ...]
    feature_names: np.ndarray
    rnet: object = None


class Reconstruct3DMM(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Face photos to 3D morphable model coefficients.

    By default (``method="blendshapes_prior"``, ``detector="cascade"``) it finds the faces
    of each photo with MediaPipe's Face Landmarker v2 (RetinaFace's boxes where BlazeFace finds
    none: half and full profiles), takes one (``faces``: the largest) and
    fits pose, identity and expression to its dense points in batches
    (:func:`sk3dmm.fitting.fit_shape_and_pose`), the expression prior centred on the 52
    blendshape scores MediaPipe's network gives for the face. Nothing is learnt in ``fit``;
    per-image results are cached by image content, so cross-validation does not redo them for
    each fold.

    Parameters
    ----------
    method : str, default="blendshapes_prior"
        A name of :data:`sk3dmm.regressors.METHODS` (the regressors it runs in turn;
        :func:`sk3dmm.regressors.register_method` adds one).
        ``"blendshapes_prior"``: the landmark fit with the expression prior centred on the
        detector's blendshape scores (``detector="mediapipe_v2"``; mapped by name onto the
        model's ARKit-named blendshapes), and on the neutral face for a detector without scores
        (then it is ``"landmarks"``). The default because it measures best on real photos
        (``benchmarks/bench_real.py``, README): its ``beta`` classifies posed expressions above
        HOG + SVM on the same folds and its ``alpha`` identifies people across expression better
        than any other method's. ``"blendshapes"``: ``beta`` held at the scores, identity and pose
        fitted. ``"landmarks"``: fit the model to the detected landmarks, priors on the mean
        face. ``"rnet"``: regress identity and expression with R-Net from the face crop aligned
        on 5 points (as Deep3DFaceRecon), then fit the pose to the landmarks with that shape.
        ``"rnet_refined"``: R-Net, then the landmark fit with its priors centred on R-Net's
        coefficients (R-Net + dense refinement). ``"rnet_blendshapes"`` and
        ``"rnet_refined_blendshapes"``: R-Net's identity (refined by the fit in the second) with
        the scores as ``beta``.
    weights : path, default=None
        R-Net weights for ``method="rnet"``: None uses the embedded R-Net (ICT model); an
        sk3dmm checkpoint or Deep3DFaceRecon's ``epoch_20.pth`` (with ``template=``) otherwise.
    template : path, default=None
        Deep3DFaceRecon's ``similarity_Lm3D_all.mat`` (its BFM folder), for its checkpoints.
    fine_tune : bool, default=False
        For ``method="rnet"``: ``fit(X)`` fine-tunes a copy of R-Net on the photos of X with
        the hybrid weak-supervision loss (landmarks, skin photometric, coefficient prior;
        :class:`sk3dmm.training.HybridLoss`), no labels needed. Off by default so ``fit`` stays
        cheap in pipelines. It improves the 2-D fit to the photos (landmark reprojection),
        which is what it can see; on synthetic photos with a known 3-D truth it made the
        shape worse (``benchmarks/bench_fine_tune.py``), so check it on data of your own.
    fine_tune_epochs, fine_tune_lr : int, float, default=5, 1e-4
        Passes over the photos and Adam's learning rate for ``fine_tune``.
    fine_tune_weights : dict, default=None
        Term weights of the fine-tuning loss (keywords of :class:`sk3dmm.training.HybridLoss`,
        e.g. ``{"landmark": 1.6e-4}``); None: Deep3DFaceRecon's.
    coef : str or tuple of str, default=("alpha", "beta")
        Blocks to output: ``"alpha"`` (identity), ``"beta"`` (expression), ``"pose"``
        (yaw, pitch, roll in degrees, then camera-space translation in mm),
        ``"blendshape_scores"`` (MediaPipe's 52 raw scores, ``detector="mediapipe_v2"`` only).
    model : None, path or MorphableModel, default=None
        None: the embedded ICT-FaceKit model (100 identity modes, 53 blendshapes).
        A ``BFM_model_front.mat`` path: Deep3DFaceRecon's Basel model (80 / 64).
    detector : str, default="cascade"
        A name of :data:`sk3dmm.faces.LANDMARKERS` (:func:`sk3dmm.faces.register_landmarker`
        adds one). ``"cascade"``: ``"mediapipe_v2"`` and, for a photo where it keeps no face,
        RetinaFace MobileNet-0.25's boxes (embedded, MIT; trained on WIDER FACE, so it finds
        half and full profiles) with the same mesh and scores: 99.9% of AFLW2000-3D's faces
        against 90.1% (100% against 50% beyond 60 degrees of yaw), the same rows wherever
        BlazeFace finds the face. ``to_frame``'s ``found_by`` column says which detector found
        it, ``mesh_score`` how sure the mesh network is (below 0.05 the face was kept on
        RetinaFace's score alone and its points are unreliable). ``"retinaface"``: RetinaFace's
        boxes for every photo. ``"none"``: no detection, each photo taken as one face (passport-
        style or pre-cropped portraits; the mesh finds the face in it). ``"mediapipe_v2"``: MediaPipe's Face Landmarker v2 (BlazeFace, the 478-point
        mesh and the blendshape network; embedded, run in torch, equal to MediaPipe's runtime
        within 0.003 px and 0.0002 per score), fitted densely on its first 468 points (each on its
        ICT vertex, :func:`sk3dmm.morphable.mediapipe_correspondence`; the ten iris points are
        left out); ``"mediapipe"``: v1's BlazeFace and 468-point mesh; dlib's ``"hog"`` or
        ``"cnn"`` detector with its 68-point predictor; or the optional face-alignment package
        when its weights are on disk. Other models than ICT are fitted to the mesh's 68 iBUG-like
        points. MediaPipe finds 94.5% of the AFLW2000-3D faces (dlib's HOG 75.4%), its points are
        as accurate on frontal faces and better beyond 30 degrees of yaw, and it detects several
        times faster (``benchmarks/bench_real.py``).
        A photo turned sideways or upside down is searched in its four quarter turns, and the
        face crop is turned by the face's roll (MediaPipe only: dlib's detectors and 68-point
        predictor are made for upright faces, and their points drift beyond about 20 degrees
        of roll).
    upsample : int, default=1
        Detector upsampling (finds smaller faces; slower).
    faces : {"largest", "central", "refuse"}, default="largest"
        Which face of a photo with several is reconstructed: the largest box (the subject of
        a portrait), the one nearest the photo's centre, or none (``"refuse"``: such a photo
        fails with :class:`~sk3dmm.MultipleFacesError`). The number found is in
        ``Reconstruction.n_faces`` and ``to_frame``'s ``n_faces`` column.
    profiles : {"network", "fit"}, default="network"
        The row of a face whose mesh is unusable (found by RetinaFace with the mesh network
        saying "no face", mostly beyond 60 degrees of yaw; ``to_frame``'s ``mesh_score`` under
        0.05): ``"network"`` takes identity, expression and the head's angles from the embedded
        profile R-Net (trained on renders across +-90 degrees) on the crop on RetinaFace's five
        keypoints where that network sees at least 60 degrees of yaw, the camera's position
        solved from those keypoints (with the embedded ICT model and a method whose crop is
        the embedded R-Net's; otherwise as ``"fit"``);
        ``"fit"`` fits the method to the mesh's points as for every other face (0.7.0's rows).
        Every other face gets the same row either way; ``to_frame``'s ``row_from`` column says
        which rows the profile R-Net gave (``"profile_rnet"``, else ``"method"``).
    keep_crops : bool, default=False
        Keep every face's aligned crop (``Reconstruction.crop``: R-Net's 5-point crop, 112 px
        for a method without R-Net) in ``reconstructions_``, e.g. for a HOG baseline or plots.
        False: a method none of whose regressors reads the crop (the default's, for every
        face the mesh finds) skips resampling the photo for it (about 3 ms a photo, the
        ``"the crop"`` stage of ``cache_stats_``) and ``crop`` is None; the rows are the same
        bits either way. R-Net methods, image sets (C-Net reads the crops) and ``fine_tune``
        keep them anyway.
    max_pixels : int, default=2_000_000
        Pixel budget of detection: a larger photo is downscaled to this many pixels for
        detection and the face crop (landmarks are mapped back to its own pixels), so a
        10000 x 10000 photo costs about what a 1400 x 1400 one does.
    focal_length : float, default=None
        Camera focal length in pixels; None: 1.2 x the longer image side.
    n_iter, identity_reg, expression_reg : int, float, float, default=3, 3e-2, 0.3
        Fitting settings, see :func:`sk3dmm.fitting.fit_shape_and_pose`. The expression
        prior 0.3 keeps blendshapes steady under the pixel-level jitter of detected landmarks
        (JPEG re-encoding at quality 95 moves dlib's points by up to 7 px and, with 1e-2,
        ``beta`` by up to 0.62); it costs nothing in expression accuracy on real photos
        (``benchmarks/bench_stability.py``, README).
    on_error : {"raise", "warn", "nan"}, default="raise"
        What a sample that cannot be reconstructed (unreadable file, no face) gets:
        ``"raise"`` stops at the first such sample with :class:`~sk3dmm.ImageReadError` or
        :class:`~sk3dmm.FaceNotFoundError` (both ``ValueError``) naming it and the reason;
        ``"warn"`` and ``"nan"`` return a row of NaN (with or without one warning per batch)
        and list the sample in ``failures_``; a set with no usable photo is a NaN row too.
        :class:`~sk3dmm.SkipFailed` lets a pipeline train and predict around such rows.
    n_jobs : int, default=None
        Parallel detection workers (joblib; ``None`` is 1 unless in a ``parallel_backend``):
        threads by default (the networks run on one torch thread each and release the GIL;
        dlib's detectors are serialised), processes or dask workers under such a backend
        (each loads the models once). Rows are the same bits for every ``n_jobs``. R-Net and
        the fit run in the calling thread while a background thread loads and detects the
        next batch. On 2 cores (``benchmarks/bench_speed.py``, 1,000 AFLW2000-3D paths) the
        default method ran at 69 photos/s with ``n_jobs=1`` and 76 with ``n_jobs=2`` (README
        0.8.1): two workers help little where two cores are all there is, since the fit needs
        one.
    batch_size : int, default=256
        Images read and fitted per batch (bounds memory).
    device : str, default="cpu"
        Where fitting runs: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    precision : {"float64", "float32"}, default="float64"
        Arithmetic of the landmark fit. float64 is reproducible: the same photo gives the same
        bits in every call and whatever else is in its batch, for every method
        (``tests/test_repeatability.py``). float32 is repeatable call to call, but a row moves
        with the size of its batch by up to ~1e-5 in ``alpha`` / ``beta`` and ~1e-4 mm in
        translation (a few float32 steps: batched matrix products take other BLAS kernels for
        other batch sizes).
    cache : bool, "memory" or path, default=True
        Reuse per-image results: ``True`` / ``"memory"``: those computed earlier in this
        process (bounded, :func:`sk3dmm.set_cache_memory_limit`); a folder: also those on disk
        there, shared by GridSearchCV's workers and later runs; ``False``: recompute.
    progress : bool, default=False
        Show a tqdm progress bar.
    random_state : int, RandomState or None, default=None
        Seeds the photo order of ``fine_tune``.

    Attributes
    ----------
    model_ : MorphableModel
    feature_names_out_ : ndarray of str
    rnet_ : RNetBundle, for ``method="rnet"`` (fine-tuned when ``fine_tune``)
    fine_tune_history_ : list of dict
        Per-epoch loss terms of the fine-tuning, when ``fine_tune``.
    failures_ : pandas.DataFrame
        Samples of the last ``transform`` that failed: index, sample, reason (for set input:
        the set and the photo in it), and the stage that failed (``"reading"``,
        ``"detection"``, ``"R-Net"``, ``"the fit"``...).
    reconstructions_ : list of Reconstruction or None
        Per-sample details of the last ``transform`` (None where it failed). Not pickled
        (about 41 KB a photo with its crop, 3 KB without): a pickled estimator stays a few KB however
        much it has transformed.
    cache_stats_ : pandas.DataFrame
        Per stage of the last ``transform`` (``stage``, its cache ``key``): the photos it
        ``computed`` and those it ``reused`` from the cache, and the ``seconds`` it spent
        computing (where the time goes, per stage). Each stage is keyed by its input
        and its own settings (``docs/architecture.md``), so a change of a fitting setting
        reuses the detections, crops and R-Net outputs.

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> from sk3dmm import Reconstruct3DMM
    >>> coefs = Reconstruct3DMM(coef="alpha").fit_transform([astronaut()])
    >>> coefs.shape
    (1, 100)
    """

    _parameter_constraints: dict = {
        "method": [str],  # a name of sk3dmm.regressors.METHODS, checked in fit
        "weights": [None, str, os.PathLike],
        "template": [None, str, os.PathLike],
        "fine_tune": ["boolean"],
        "fine_tune_epochs": [Interval(Integral, 1, None, closed="left")],
        "fine_tune_lr": [Interval(Real, 0, None, closed="neither")],
        "fine_tune_weights": [None, dict],
        "coef": [str, tuple, list],
        "model": [None, str, os.PathLike, MorphableModel],
        "detector": [str],  # a name of sk3dmm.faces.LANDMARKERS, checked in fit
        "upsample": [Interval(Integral, 0, None, closed="left")],
        "faces": [StrOptions(set(FACE_CHOICES))],
        "profiles": [StrOptions({"fit", "network"})],
        "keep_crops": ["boolean"],
        "max_pixels": [Interval(Integral, 10_000, None, closed="left")],
        "focal_length": [None, Interval(Real, 0, None, closed="neither")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "identity_reg": [Interval(Real, 0, None, closed="neither")],
        "expression_reg": [Interval(Real, 0, None, closed="neither")],
        "on_error": [StrOptions(set(ON_ERROR))],
        "n_jobs": [None, Integral],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "precision": [StrOptions({"float32", "float64"})],
        "cache": ["boolean", str, os.PathLike],
        "progress": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        method="blendshapes_prior",
        weights=None,
        template=None,
        fine_tune=False,
        fine_tune_epochs=5,
        fine_tune_lr=1e-4,
        fine_tune_weights=None,
        coef=("alpha", "beta"),
        model=None,
        detector="cascade",
        upsample=1,
        faces="largest",
        profiles="network",
        keep_crops=False,
        max_pixels=2_000_000,
        focal_length=None,
        n_iter=3,
        identity_reg=3e-2,
        expression_reg=0.3,
        on_error="raise",
        n_jobs=None,
        batch_size=256,
        device="cpu",
        precision="float64",
        cache=True,
        progress=False,
        random_state=None,
    ):
        self.method = method
        self.weights = weights
        self.template = template
        self.fine_tune = fine_tune
        self.fine_tune_epochs = fine_tune_epochs
        self.fine_tune_lr = fine_tune_lr
        self.fine_tune_weights = fine_tune_weights
        self.coef = coef
        self.model = model
        self.detector = detector
        self.upsample = upsample
        self.faces = faces
        self.profiles = profiles
        self.keep_crops = keep_crops
        self.max_pixels = max_pixels
        self.focal_length = focal_length
        self.n_iter = n_iter
        self.identity_reg = identity_reg
        self.expression_reg = expression_reg
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.cache = cache
        self.progress = progress
        self.random_state = random_state

    # ------------------------------------------------------------------ estimator API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Validate the parameters and load the model (and R-Net, checked against the model);
        with ``fine_tune``, adapt R-Net to X (label-free); otherwise nothing is learnt from X."""
        setup = self._build_setup()
        self.model_, self.feature_names_out_ = setup.model, setup.feature_names
        if setup.rnet is not None:
            self.rnet_ = setup.rnet
            if self.fine_tune:
                self._fine_tune(X)
        elif self.fine_tune:
            raise ValueError(
                f"fine_tune=True needs a method with R-Net (method='rnet' or 'rnet_refined'); "
                f"method={self.method!r} has nothing to train"
            )
        return self

    def _build_setup(self) -> _Setup:
        method_regressors(self.method)  # a ValueError naming the registered methods
        if self.detector not in LANDMARKERS:
            raise ValueError(f"unknown detector {self.detector!r}; registered: {sorted(LANDMARKERS)}")
        model = resolve_model(self.model)
        blocks = normalize_coef(self.coef)
        if self.cache not in (True, False, "memory") and os.path.isfile(self.cache):
            raise ValueError(
                f"cache={self.cache!r} is a file; pass a folder (created if missing), True or False"
            )
        _check_blendshape_inputs(self.method, self.detector, blocks, model)
        rnet = None
        if uses_rnet(self.method):
            from ..nets import load_rnet

            rnet = load_rnet(self.weights, model, self.template)
        return _Setup(model, blocks, feature_names(model, blocks), rnet)

    def _setup(self) -> _Setup:
        """The fitted setup, or (transform before fit) one built now and not stored."""
        if hasattr(self, "model_"):
            return _Setup(
                self.model_, normalize_coef(self.coef), self.feature_names_out_, getattr(self, "rnet_", None)
            )
        if self.fine_tune:
            raise NotFittedError("Reconstruct3DMM(fine_tune=True) must be fitted on photos before transform")
        self._validate_params()
        return self._build_setup()

    def _fine_tune(self, X) -> None:
        from ..training import HybridLoss, fine_tune_rnet

        if X is None:
            raise ValueError("fine_tune=True needs photos: fit(X)")
        photos = [img for s in X for img in s] if is_set_input(X) else X
        recons = [r for r in self.reconstruct(photos) if r is not None]
        if not recons:
            raise ValueError("fine-tuning needs at least one photo with a detected face")
        device = resolve_device(self.device)
        loss = HybridLoss(self.model_, device=device, **(self.fine_tune_weights or {}))
        cams = [r.crop_camera() for r in recons]
        self.rnet_, self.fine_tune_history_ = fine_tune_rnet(
            self.rnet_,
            self.model_,
            np.stack([r.crop for r in recons]),
            np.stack([c[2] for c in cams]),
            np.array([c[0] for c in cams]),
            np.stack([c[1] for c in cams]),
            epochs=self.fine_tune_epochs,
            lr=self.fine_tune_lr,
            loss=loss,
            random_state=self.random_state,
            device=device,
            progress=self.progress,
        )

    def transform(self, X):
        """Coefficients of each photo, float32 of shape (n_samples, n_features_out).

        Parameters
        ----------
        X : array (n, H, W[, C]), list of arrays / paths / file objects, a one-column
            DataFrame or Series of them, or a list of image sets (lists of photos); sets give
            an object array of :class:`ImageSet`, the input of :class:`SetAggregator`.

        Returns
        -------
        ndarray, or a DataFrame under ``set_output(transform="pandas")`` (not for sets)
        """
        setup = self._setup()
        column = column_values(X)
        samples = X if column is None else column
        if is_set_input(samples):
            return self._transform_sets(samples, setup)
        rows = self._coefficients(self._reconstruct(samples, setup, crops=self.keep_crops), setup)
        return wrap_output(self, rows, X)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    def set_output(self, *, transform=None):
        """Set the container of ``transform``'s output: ``"default"`` (numpy), ``"pandas"``,
        ``"polars"`` or None (unchanged). Set input always gives :class:`ImageSet` objects."""
        if transform is not None:
            self._sklearn_output_config = {
                **getattr(self, "_sklearn_output_config", {}),
                "transform": transform,
            }
        return self

    @staticmethod
    def _coefficients(recons, setup: _Setup) -> np.ndarray:
        out = np.full((len(recons), len(setup.feature_names)), np.nan, dtype=np.float32)
        for i, r in enumerate(recons):
            if r is not None:
                out[i] = np.concatenate([r.coefficients[b] for b in setup.blocks])
        return out

    def _transform_sets(self, X, setup: _Setup) -> np.ndarray:
        """Sets in, an object array of :class:`ImageSet` out (one per set, all photos batched).

        Failed photos are NaN rows of their set; a set with no usable photo holds only NaN
        rows (``SetAggregator`` makes it a NaN row) unless ``on_error="raise"``.
        """
        sets = [list(s) for s in X]
        for i, s in enumerate(sets):
            if not s:
                raise ValueError(f"set {i} is empty")
            if is_set_input(s):
                raise ValueError(f"set {i}: image sets must contain images or paths, not further sets")
        where = [(i, j) for i, s in enumerate(sets) for j in range(len(s))]
        flat = [img for s in sets for img in s]
        recons = self._reconstruct(flat, setup, where, crops=True)  # C-Net reads them
        rows = self._coefficients(recons, setup)
        out = np.empty(len(sets), dtype=object)
        start = 0
        for i, s in enumerate(sets):
            n = len(s)
            out[i] = ImageSet(rows[start : start + n], setup.feature_names, recons[start : start + n])
            start += n
        return out

    @property
    def cache_stats_(self) -> pd.DataFrame:
        """Per stage of the last ``transform``: see the class's Attributes (made when asked:
        a DataFrame costs half a millisecond, a fifth of a photo's fit)."""
        if not hasattr(self, "_stage_counts"):
            raise AttributeError("cache_stats_ is set by transform")
        return StageCache.frame(*self._stage_counts)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("reconstructions_", None)  # per-photo details of the last transform: not pickled
        return state

    def get_feature_names_out(self, input_features=None):
        """``alpha_0 .. alpha_99``, ``beta_jawOpen`` ..., ``pose_yaw`` ..."""
        return self._setup().feature_names.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.precision != "float64" or (self.fine_tune and self.random_state is None)
        tags.transformer_tags.preserves_dtype = []
        return tags

    # ------------------------------------------------------------------ the work
    def reconstruct(self, X, *, crops: bool = True) -> list[Reconstruction | None]:
        """Per-sample :class:`Reconstruction` objects (None for failed samples), made by
        :func:`sk3dmm.pipeline.reconstruct_photos` in batches of ``batch_size`` (the next batch
        loaded, detected and cropped while this one is fitted:
        :func:`~sk3dmm.pipeline.reconstruct_batches`). ``crops``: every face's crop is sampled
        (whatever ``keep_crops``); False: only those the method reads (about 3 ms a photo
        less where the rest is not needed, e.g. for meshes or points).

        Applies ``on_error`` and sets ``failures_`` and ``reconstructions_``.
        """
        return self._reconstruct(X, self._setup(), crops=crops)

    def _reconstruct(self, X, setup: _Setup, where=None, *, crops: bool) -> list[Reconstruction | None]:
        """:meth:`reconstruct`; ``where``: each photo's (set, photo) for messages; ``crops``:
        sample every crop's pixels (else only those the method reads)."""
        items = as_image_list(X)
        names = {
            i: describe_sample(item, i, None if where is None else where[i]) for i, item in enumerate(items)
        }
        stages, policy = self._stages(setup, crops), ErrorPolicy(self.on_error, self.n_jobs)
        cache = StageCache(result_caches(self.cache))
        results: list[Reconstruction | None] = [None] * len(items)
        with tqdm(total=len(items), desc="reconstruct", unit="img", disable=not self.progress) as bar:
            batches = (
                {i: items[i] for i in range(start, min(len(items), start + self.batch_size))}
                for start in range(0, len(items), self.batch_size)
            )
            for size, done in reconstruct_batches(batches, names, stages, policy, cache):
                for i, rec in done.items():
                    results[i] = rec
                bar.update(size)
        self.failures_ = policy.frame()
        self.reconstructions_ = results
        self._stage_counts = cache.counts()  # cache_stats_ makes the DataFrame when asked
        return results

    def _stages(self, setup: _Setup, crops: bool) -> Stages:
        """The stages of ``method`` and ``detector`` with this estimator's settings; ``crops``:
        sample every crop's pixels (else those the regressors read)."""
        settings = self._regression_settings(setup)
        regressors = build_regressors(self.method, settings)
        spec = next(
            (r.crop_spec for r in regressors if hasattr(r, "crop_spec")), photo_crop_spec(setup.model)
        )
        profiles = self.profiles if _profile_rnet_applies(setup.model, spec) else "fit"
        if profiles == "network":
            regressors += (ProfileRNetRegressor(settings),)
        pixels = crops or any(getattr(r, "reads_crops", True) for r in regressors)
        return Stages(
            detect=DetectFace(self.detector, self.upsample, self.max_pixels, self.faces),
            crop=CropFace(*spec, self.max_pixels, profiles, pixels),
            regressors=regressors,
        )

    def _regression_settings(self, setup: _Setup) -> RegressionSettings:
        return RegressionSettings(
            model=setup.model,
            rnet=setup.rnet,
            focal_length=self.focal_length,
            n_iter=self.n_iter,
            identity_reg=self.identity_reg,
            expression_reg=self.expression_reg,
            precision=self.precision,
            device=resolve_device(self.device),
            batch_size=self.batch_size,
        )

    def to_frame(self, X) -> pd.DataFrame:
        """The selected blocks for each sample as a DataFrame, with the fit's quality columns
        and, for failed samples, the ``reason``."""
        setup = self._setup()
        recons = self._reconstruct(X, setup, crops=self.keep_crops)
        frame = pd.DataFrame(self._coefficients(recons, setup), columns=list(setup.feature_names))
        frame["detection_score"] = [np.nan if r is None else r.score for r in recons]
        frame["reprojection_error_px"] = [np.nan if r is None else r.reprojection_error for r in recons]
        frame["n_faces"] = pd.array([pd.NA if r is None else r.n_faces for r in recons], dtype="Int64")
        frame["found_by"] = [None if r is None else r.found_by or None for r in recons]
        frame["mesh_score"] = [np.nan if r is None else r.mesh_score for r in recons]
        frame["row_from"] = [None if r is None else r.row_from for r in recons]
        reasons = dict(zip(self.failures_["index"], self.failures_["reason"]))
        frame["reason"] = [reasons.get(i, "") for i in range(len(recons))]
        return frame


def _check_blendshape_inputs(method: str, detector: str, blocks: tuple[str, ...], model) -> None:
    """Methods and blocks that read MediaPipe's blendshape scores need a detector that gives
    them and (methods) a model with ARKit-named blendshapes; a ValueError says which is missing."""
    from ..faces.landmarkers import gives_blendshapes
    from ..regressors import reads_blendshapes

    reads = reads_blendshapes(method)
    if not reads and "blendshape_scores" not in blocks:
        return
    if not gives_blendshapes(detector):
        what = f"method={method!r}" if reads else "coef='blendshape_scores'"
        raise ValueError(
            f"{what} reads blendshape scores, which detector={detector!r} does not give: use detector='mediapipe_v2'"
        )
    if reads:
        from ..regressors._blendshapes import blendshape_mapping

        blendshape_mapping(list(model.expression_names))
