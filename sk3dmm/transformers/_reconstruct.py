"""Reconstruct3DMM: face photos in, 3DMM coefficients out."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from tqdm.auto import tqdm

from ..exceptions import ModelFileError, ReconstructionError
from ..faces import (
    FACE_CHOICES,
    FaceDetection,
    align_crop,
    as_image_list,
    choose_face,
    column_values,
    crop_affine,
    detect_faces,
    eye_line_angle,
    load_image,
    rotate_points,
)
from ..fitting import default_focal, fit_shape_and_pose
from ..morphable import MorphableModel
from ._blocks import feature_names, fit_to_blocks, normalize_coef
from ._cache import image_digest, result_caches, settings_digest
from ._errors import ON_ERROR, SAMPLE_ERRORS, apply_policy, describe_sample, raise_sample_error
from ._image_sets import ImageSet, is_set_input
from ._landmark_fitter import resolve_device
from ._model_choice import resolve_model
from ._output import wrap_output


@dataclass
class Reconstruction:
    """Everything known about one reconstructed photo.

    Attributes
    ----------
    coefficients : dict of str to (d,) float32 arrays, one per block
    landmarks : (68, 2) detected landmarks, pixels
    fitted_landmarks : (68, 2) the fitted model's landmarks projected back, pixels
    box : (4,) face box, left, top, right, bottom
    score : float, detection score
    image_size : (width, height)
    focal, center : the camera used
    rotation, translation : model-to-camera pose (translation in model units)
    reprojection_error : float, mean landmark distance in pixels
    crop : (s, s, 3) uint8 or None
        The face aligned on 5 points as R-Net sees it (also kept for the landmark method: the
        photometric loss of C-Net and fine-tuning reads it).
    crop_affine : (4,) or None
        ``(sx, sy, ox, oy)``: ``crop_xy = turned_xy * (sx, sy) + (ox, oy)``, where
        ``turned_xy`` is the photo point turned by ``-crop_roll`` about ``center``.
    features : (c,) float32 or None
        R-Net's pooled backbone features of the crop (``method="rnet"``): what C-Net reads.
    crop_roll : float, default=0
        Radians the photo was turned by (about the principal point ``center``) before the
        crop: the angle of the face's eye line, so R-Net sees every face with level eyes
        (a face turned by 180 degrees gives R-Net the same crop as upright).
    mesh : (468, 3) float32 or None
        MediaPipe's dense points (x, y pixels of the photo, relative depth), for
        ``detector="mediapipe"``.
    n_faces : int, default=1
        Faces the detector found in the photo (one was reconstructed, see ``faces``).
    """

    coefficients: dict
    landmarks: np.ndarray
    fitted_landmarks: np.ndarray
    box: np.ndarray
    score: float
    image_size: tuple[int, int]
    focal: float
    center: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    reprojection_error: float
    crop: np.ndarray | None = None
    crop_affine: np.ndarray | None = None
    features: np.ndarray | None = None
    crop_roll: float = 0.0
    mesh: np.ndarray | None = None
    n_faces: int = 1

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo pixels (..., 2) to the crop's pixels (turned by ``crop_roll``, then scaled)."""
        sx, sy, ox, oy = self.crop_affine
        turned = rotate_points(points, -self.crop_roll, self.center) if self.crop_roll else points
        return turned * np.array([sx, sy]) + np.array([ox, oy])

    def crop_camera(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Focal length, principal point and the 68 landmarks in the crop's pixels (the turn
        is about the principal point, so the crop is a pinhole camera of its own)."""
        sx, sy = self.crop_affine[:2]
        return self.focal * (sx + sy) / 2, self.to_crop(self.center), self.to_crop(self.landmarks)


def photo_crop_spec(model: MorphableModel, size: int = 112) -> tuple[np.ndarray, int, float]:
    """Template, size and framing of the 5-point crop kept for the landmark method: the
    embedded R-Net's framing (Deep3DFaceRecon's 102 px per decimetre at 224 px)."""
    from ..nets._rnet_io import ict_template

    return ict_template(model), size, 102.0 * model.unit_mm / 100.0 * size / 224.0


def _dense_correspondence(model: MorphableModel):
    """MediaPipe's 468 points on ``model``'s vertices, or None when it is not the embedded ICT
    model the correspondence was made for (then the mesh's 68 iBUG-like points are fitted)."""
    from ..morphable import mediapipe_correspondence

    corr = mediapipe_correspondence()
    return corr if model.name.startswith("ICT") and model.n_vertices == 16434 else None


def _project_68(model: MorphableModel, fit) -> torch.Tensor:
    """The model's 68 landmark vertices under a fit's coefficients and camera, in pixels."""
    from ..fitting import project, transform

    pts = model.landmarks(fit.alpha, fit.beta)
    return project(transform(pts, fit.rotation, fit.translation), fit.focal, fit.center)


@dataclass
class _Detection:
    """What the detection worker gives back for one photo (every point in its pixels)."""

    face: FaceDetection
    image_size: tuple[int, int]
    crop: np.ndarray
    crop_affine: np.ndarray
    crop_roll: float
    n_faces: int


def _downscaled(image: np.ndarray, max_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo shrunk to at most ``max_pixels`` (bilinear) and the (x, y) factors used."""
    scale = min(1.0, float(np.sqrt(max_pixels / (image.shape[0] * image.shape[1]))))
    if scale >= 1.0:
        return image, np.ones(2)
    from PIL import Image

    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    small = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    return small, np.array([size[0] / image.shape[1], size[1] / image.shape[0]])


@contextmanager
def one_torch_thread():
    """Run torch on one thread inside: float32 networks give other last bits on other thread
    counts (up to 4e-7 for the mesh network, measured), and a joblib worker gets fewer
    threads than the main process, so detection on one thread gives every photo the same
    points for every ``n_jobs``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _detect(image: np.ndarray, name: str, settings: dict, crop_spec, raise_errors: bool):
    """Worker: find the face of a decoded photo (``settings["faces"]`` chooses among several)
    and crop it on 5 points, turned so that its eyes are level.

    Photos over ``max_pixels`` are downscaled for detection and the crop; every point set of
    the face and the crop affine are mapped back to the photo's pixels. A failure comes back
    as its reason (a string) so one bad photo cannot stop a batch, unless ``raise_errors``.
    """
    try:
        small, scale_xy = _downscaled(image, settings["max_pixels"])
        try:
            with one_torch_thread():
                faces = detect_faces(small, settings["detector"], settings["upsample"])
        except (RuntimeError, ValueError, FloatingPointError) as exc:
            if isinstance(exc, (ModelFileError, *SAMPLE_ERRORS)):
                raise
            raise ReconstructionError(
                f"{name}: detection failed ({type(exc).__name__.lstrip('_')}: {exc})"
            ) from exc
        face = choose_face(faces, settings["faces"], name, small.shape[1::-1])
        template5, crop_size, rescale = crop_spec
        roll = eye_line_angle(face.landmarks)  # turned level, as MediaPipe's graph turns its ROI
        crop, _, params = align_crop(small, face.landmarks, template5, crop_size, rescale, roll=roll)
        affine = crop_affine(params, crop_size)
        if (scale_xy != 1.0).any():
            face = face.scaled(1.0 / scale_xy)
            affine = np.concatenate([affine[:2] * scale_xy, affine[2:]])
        return _Detection(face, (image.shape[1], image.shape[0]), crop, affine, roll, len(faces))
    except SAMPLE_ERRORS as exc:
        if raise_errors:
            raise
        return str(exc).removeprefix(f"{name}: ")


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

    ``method="landmarks"`` detects the faces of each photo (MediaPipe by default, see
    ``detector``), takes one (``faces``: the largest by default) and fits pose, identity and
    expression to its dense points in batches (:func:`sk3dmm.fitting.fit_shape_and_pose`).
    Nothing is learnt in ``fit``; per-image results are cached by image content, so
    cross-validation does not redo them for each fold.

    Parameters
    ----------
    method : {"landmarks", "rnet", "rnet_refined"}, default="landmarks"
        ``"landmarks"``: fit the model to the detected landmarks. ``"rnet"``: regress
        identity and expression with R-Net from the face crop aligned on 5 points (as
        Deep3DFaceRecon), then fit the pose to the landmarks with that shape.
        ``"rnet_refined"``: R-Net, then the landmark fit with its priors centred on R-Net's
        coefficients rather than on the mean face (R-Net + dense refinement). On real photos
        (``benchmarks/bench_rnet_real.py``, MediaPipe) it identifies people across expression
        best (webmorph rank-1 58.8% vs 35.3% for ``"landmarks"`` and 42.2% for ``"rnet"``)
        and classifies expressions as well as ``"landmarks"`` (54.2 / 52.4% vs 53.0 / 52.8%,
        SVC / logistic regression).
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
        (yaw, pitch, roll in degrees, then camera-space translation in mm).
    model : None, path or MorphableModel, default=None
        None: the embedded ICT-FaceKit model (100 identity modes, 53 blendshapes).
        A ``BFM_model_front.mat`` path: Deep3DFaceRecon's Basel model (80 / 64).
    detector : {"mediapipe", "hog", "cnn", "face_alignment"}, default="mediapipe"
        dlib's HOG or CNN detector with its 68-point predictor; ``"mediapipe"``: MediaPipe's
        BlazeFace and 468-point face mesh (embedded, run in torch), to which the embedded ICT
        model is fitted densely (every mesh point on its vertex, see
        :func:`sk3dmm.morphable.mediapipe_correspondence`; other models are fitted to its 68
        iBUG-like points); or the optional face-alignment package when its weights are on disk.
        MediaPipe is the default because it measures best on real photos: it finds 94.5% of the
        AFLW2000-3D faces (dlib's HOG 75.4%), its 68 points are as accurate on frontal faces and
        better beyond 30 degrees of yaw, and it detects 5.6x faster (``benchmarks/bench_real.py``).
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
    max_pixels : int, default=2_000_000
        Pixel budget of detection: a larger photo is downscaled to this many pixels for
        detection and the face crop (landmarks are mapped back to its own pixels), so a
        10000 x 10000 photo costs about what a 1400 x 1400 one does.
    focal_length : float, default=None
        Camera focal length in pixels; None: 1.2 x the longer image side.
    n_iter, identity_reg, expression_reg : int, float, float, default=4, 3e-2, 0.3
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
        (each loads the models once). Rows are the same bits for every ``n_jobs``. On 2 cores
        (``benchmarks/bench_n_jobs.py``, 20 / 60 photos, warm) ``n_jobs=2`` took 0.51 / 1.67 s
        against 0.63 / 1.95 s: R-Net and the fit, after detection, run in the calling thread.
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
        the set and the photo in it).
    reconstructions_ : list of Reconstruction or None
        Per-sample details of the last ``transform`` (None where it failed). Not pickled
        (about 41 KB a photo, mostly its crop): a pickled estimator stays a few KB however
        much it has transformed.

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> from sk3dmm import Reconstruct3DMM
    >>> coefs = Reconstruct3DMM(coef="alpha").fit_transform([astronaut()])
    >>> coefs.shape
    (1, 100)
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"landmarks", "rnet", "rnet_refined"})],
        "weights": [None, str, os.PathLike],
        "template": [None, str, os.PathLike],
        "fine_tune": ["boolean"],
        "fine_tune_epochs": [Interval(Integral, 1, None, closed="left")],
        "fine_tune_lr": [Interval(Real, 0, None, closed="neither")],
        "fine_tune_weights": [None, dict],
        "coef": [str, tuple, list],
        "model": [None, str, os.PathLike, MorphableModel],
        "detector": [StrOptions({"hog", "cnn", "mediapipe", "face_alignment"})],
        "upsample": [Interval(Integral, 0, None, closed="left")],
        "faces": [StrOptions(set(FACE_CHOICES))],
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
        method="landmarks",
        weights=None,
        template=None,
        fine_tune=False,
        fine_tune_epochs=5,
        fine_tune_lr=1e-4,
        fine_tune_weights=None,
        coef=("alpha", "beta"),
        model=None,
        detector="mediapipe",
        upsample=1,
        faces="largest",
        max_pixels=2_000_000,
        focal_length=None,
        n_iter=4,
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
        if self.method != "landmarks":
            self.rnet_ = setup.rnet
            if self.fine_tune:
                self._fine_tune(X)
        elif self.fine_tune:
            raise ValueError(
                "fine_tune=True needs method='rnet' or 'rnet_refined' (the landmark method has nothing to train)"
            )
        return self

    def _build_setup(self) -> _Setup:
        model = resolve_model(self.model)
        blocks = normalize_coef(self.coef)
        if self.cache not in (True, False, "memory") and os.path.isfile(self.cache):
            raise ValueError(
                f"cache={self.cache!r} is a file; pass a folder (created if missing), True or False"
            )
        rnet = None
        if self.method != "landmarks":
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
        return wrap_output(self, self._coefficients(self.reconstruct(samples, _setup=setup), setup), X)

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
        recons = self.reconstruct(flat, _setup=setup, _where=where)
        rows = self._coefficients(recons, setup)
        out = np.empty(len(sets), dtype=object)
        start = 0
        for i, s in enumerate(sets):
            n = len(s)
            out[i] = ImageSet(rows[start : start + n], setup.feature_names, recons[start : start + n])
            start += n
        return out

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
    def reconstruct(self, X, *, _setup: _Setup | None = None, _where=None) -> list[Reconstruction | None]:
        """Per-sample :class:`Reconstruction` objects (None for failed samples).

        Applies ``on_error`` and sets ``failures_`` and ``reconstructions_``.
        """
        setup = self._setup() if _setup is None else _setup
        items = as_image_list(X)
        n = len(items)
        names = [
            describe_sample(item, i, None if _where is None else _where[i]) for i, item in enumerate(items)
        ]
        results: list[Reconstruction | None] = [None] * n
        failures: list[tuple[int, str, str]] = []
        settings = settings_digest(
            {
                "model": setup.model.fingerprint,
                "method": self.method,
                "weights": None if self.method == "landmarks" else setup.rnet.source,
                "template": str(self.template),
                "detector": self.detector,
                "upsample": self.upsample,
                "max_pixels": self.max_pixels,
                "faces": self.faces,
                "focal_length": self.focal_length,
                "n_iter": self.n_iter,
                "identity_reg": self.identity_reg,
                "expression_reg": self.expression_reg,
                "precision": self.precision,
            }
        )
        caches = result_caches(self.cache)
        bar = tqdm(total=n, desc="reconstruct", unit="img", disable=not self.progress)
        for start in range(0, n, self.batch_size):
            chunk = range(start, min(n, start + self.batch_size))
            self._reconstruct_chunk(items, names, chunk, settings, caches, setup, results, failures)
            bar.update(len(chunk))
        bar.close()
        self.failures_ = apply_policy(sorted(failures), self.on_error)
        self.reconstructions_ = results
        return results

    def _reconstruct_chunk(self, items, names, chunk, settings, caches, setup, results, failures) -> None:
        raise_errors = self.on_error == "raise"
        keys: dict[int, tuple] = {}
        images: dict[int, np.ndarray] = {}  # decoded once, for the cache key and for detection
        read_error = None  # under "raise": raised after the photos before it, so the first failure wins
        for i in chunk:
            try:
                image = load_image(items[i], names[i])
            except SAMPLE_ERRORS as exc:
                if raise_errors:
                    read_error = exc
                    break
                failures.append((i, names[i], str(exc).removeprefix(f"{names[i]}: ")))
                continue
            keys[i] = (image_digest(image), settings)
            hit = _cache_get(caches, keys[i])
            if hit is None:
                images[i] = image
            else:
                results[i] = hit
        self._detect_and_fit(items, names, list(images), images, keys, caches, setup, results, failures)
        if read_error is not None:
            raise_sample_error(read_error)

    def _detect_and_fit(self, items, names, todo, images, keys, caches, setup, results, failures) -> None:
        """Detect, regress and fit the photos ``todo``; a photo that fails at any stage gets
        its reason in ``failures`` (or, under ``"raise"``, a typed error naming it)."""
        if not todo:
            return
        detected = self._detect_all(todo, images, names, setup)
        ok = []
        for i, det in zip(todo, detected):
            if isinstance(det, _Detection):
                ok.append((i, det))
            else:
                failures.append((i, names[i], det))
        if self.method != "landmarks":
            ok = self._guarded(ok, names, failures, "R-Net", lambda part: self._regress(part, setup))
        else:
            ok = [(*row, None) for row in ok]
        ok = self._guarded(ok, names, failures, "the fit", lambda part: self._fit(part, setup))
        for i, det, rnet, fit in ok:
            rec = Reconstruction(
                coefficients={b: fit[b] for b in ("alpha", "beta", "pose")},
                landmarks=det.face.landmarks,
                fitted_landmarks=fit["fitted68"],
                box=det.face.box,
                score=det.face.score,
                image_size=det.image_size,
                focal=float(fit["focal"]),
                center=fit["center"],
                rotation=fit["rotation"],
                translation=fit["translation"],
                reprojection_error=float(fit["reprojection_error"]),
                crop=det.crop,
                crop_affine=det.crop_affine,
                features=None if rnet is None else rnet["features"],
                crop_roll=det.crop_roll,
                mesh=det.face.mesh,
                n_faces=det.n_faces,
            )
            results[i] = rec
            for cache in caches:
                cache.put(keys[i], rec)

    def _detect_all(self, todo, images, names, setup) -> list:
        """:func:`_detect` of each photo (joblib workers): a :class:`_Detection` or a reason."""
        if self.method != "landmarks":
            crop_spec = (setup.rnet.template5, setup.rnet.input_size, setup.rnet.rescale_factor)
        else:
            crop_spec = photo_crop_spec(setup.model)
        settings = {
            "detector": self.detector,
            "upsample": self.upsample,
            "max_pixels": self.max_pixels,
            "faces": self.faces,
        }
        raise_errors = self.on_error == "raise"
        try:
            with one_torch_thread():  # and so in each worker thread; a worker process sets its own
                return Parallel(n_jobs=self.n_jobs, prefer="threads")(
                    delayed(_detect)(images.pop(i), names[i], settings, crop_spec, raise_errors) for i in todo
                )
        except SAMPLE_ERRORS as exc:
            raise_sample_error(exc)

    def _guarded(self, ok: list, names, failures, stage: str, step) -> list:
        """Run a batched ``step`` (rows of ``ok`` -> dict of per-photo arrays) under the error
        policy: when the batch raises, each photo is run alone so that only the photos that
        fail drop out; a photo whose output is not finite fails too. Returns ``ok`` with
        each photo's output appended to its tuple."""
        if not ok:
            return []
        try:
            out = step(ok)
        except (RuntimeError, ValueError, ArithmeticError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            if len(ok) > 1:
                return [row for part in ok for row in self._guarded([part], names, failures, stage, step)]
            return self._stage_failed(
                ok[0][0], names, failures, f"{stage} failed ({type(exc).__name__.lstrip('_')}: {exc})"
            )
        kept = []
        for j, row in enumerate(ok):
            mine = {k: v[j] for k, v in out.items()}
            if all(np.isfinite(v).all() for v in mine.values() if np.asarray(v).dtype.kind == "f"):
                kept.append((*row, mine))
            else:
                self._stage_failed(row[0], names, failures, f"{stage} gave non-finite values")
        return kept

    def _stage_failed(self, i: int, names, failures, reason: str) -> list:
        if self.on_error == "raise":
            raise_sample_error(ReconstructionError(f"{names[i]}: {reason}"))
        failures.append((i, names[i], reason))
        return []

    def _fit(self, ok: list, setup: _Setup) -> dict[str, np.ndarray]:
        """The landmark fit of a batch of detected photos (with R-Net's shape as fixed shape
        or prior for the R-Net methods): coefficient blocks and camera, one row per photo."""
        dets = [row[1] for row in ok]
        sizes = np.array([d.image_size for d in dets], dtype=np.float64)
        focal = default_focal(sizes) if self.focal_length is None else np.full(len(dets), self.focal_length)
        center = sizes / 2
        shape = None
        if self.method != "landmarks":
            shape = (np.stack([row[2]["alpha"] for row in ok]), np.stack([row[2]["beta"] for row in ok]))
        dense = _dense_correspondence(setup.model) if dets[0].face.mesh is not None else None
        fit = fit_shape_and_pose(
            setup.model,
            np.stack([d.face.landmarks if dense is None else d.face.mesh[:, :2] for d in dets]),
            focal,
            center,
            fixed_shape=shape if self.method == "rnet" else None,
            prior_shape=shape if self.method == "rnet_refined" else None,
            n_iter=self.n_iter,
            identity_reg=self.identity_reg,
            expression_reg=self.expression_reg,
            landmark_vertices=None if dense is None else dense.vertex_ids,
            weights=None if dense is None else dense.weights(),
            device=resolve_device(self.device),
            dtype=getattr(torch, self.precision),
        )
        blocks = fit_to_blocks(fit, setup.model)
        if shape is not None and dense is None and ok[0][2]["angles"] is not None:
            # R-Net's own angles: more accurate than a fit to dlib's 68 points at large yaw; a fit
            # to MediaPipe's 468 points is more accurate than either (AFLW2000-3D, bench_rnet_real.py)
            blocks["pose"][:, :3] = _photo_angles(
                np.stack([row[2]["angles"] for row in ok]), np.array([d.crop_roll for d in dets])
            )
        fitted68 = fit.landmarks2d if dense is None else _project_68(setup.model, fit)
        return {
            **blocks,
            "fitted68": fitted68.cpu().numpy(),
            "focal": focal,
            "center": center,
            "rotation": fit.rotation.cpu().numpy(),
            "translation": fit.translation.cpu().numpy(),
            "reprojection_error": fit.reprojection_error.cpu().numpy(),
        }

    def _regress(self, ok: list, setup: _Setup) -> dict[str, np.ndarray]:
        """R-Net on the photos' aligned crops (batched, on ``device``; bf16 autocast on CUDA):
        the shape (alpha, beta), the pose angles in degrees (None for nets without our angle
        head) and the pooled features, one row per photo."""
        from ..nets._rnet_io import to_input

        crops = np.stack([row[1].crop for row in ok])
        device = resolve_device(self.device)
        net = setup.rnet.net.to(device)
        alphas, betas, angles, feats = [], [], [], []
        with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
            for s in range(0, len(crops), self.batch_size):
                coefs, f = net.predict_with_features(to_input(crops[s : s + self.batch_size], device))
                out = net.split(coefs.float())
                feats.append(f.float().cpu().numpy())
                alphas.append(out["id"].cpu().numpy())
                betas.append(out["exp"].cpu().numpy())
                if "angle" in out and setup.rnet.source.startswith("sk3dmm"):  # our (yaw, pitch, roll)
                    angles.append(out["angle"].cpu().numpy())
        beta = np.concatenate(betas)
        if setup.model.expression_bounds is not None:
            beta = np.clip(beta, *setup.model.expression_bounds)
        angle_deg = np.rad2deg(np.concatenate(angles)) if angles else [None] * len(crops)
        return {
            "alpha": np.concatenate(alphas),
            "beta": beta,
            "angles": angle_deg,
            "features": np.concatenate(feats),
        }

    def to_frame(self, X) -> pd.DataFrame:
        """The selected blocks for each sample as a DataFrame, with the fit's quality columns
        and, for failed samples, the ``reason``."""
        setup = self._setup()
        recons = self.reconstruct(X, _setup=setup)
        frame = pd.DataFrame(self._coefficients(recons, setup), columns=list(setup.feature_names))
        frame["detection_score"] = [np.nan if r is None else r.score for r in recons]
        frame["reprojection_error_px"] = [np.nan if r is None else r.reprojection_error for r in recons]
        frame["n_faces"] = pd.array([pd.NA if r is None else r.n_faces for r in recons], dtype="Int64")
        reasons = dict(zip(self.failures_["index"], self.failures_["reason"]))
        frame["reason"] = [reasons.get(i, "") for i in range(len(recons))]
        return frame


def _photo_angles(crop_angles_deg: np.ndarray, crop_roll: np.ndarray) -> np.ndarray:
    """R-Net's (yaw, pitch, roll) in degrees, seen in crops turned by ``-crop_roll`` about the
    principal point, as angles of the photo's camera (the turn is a roll of the camera).
    Rows without a turn are returned as they are."""
    turned = np.flatnonzero(crop_roll)
    if not len(turned):
        return crop_angles_deg
    from ..fitting import euler_to_matrix, matrix_to_euler

    a = torch.as_tensor(np.deg2rad(crop_angles_deg[turned]), dtype=torch.float64)
    r_crop = euler_to_matrix(a[:, 0], a[:, 1], a[:, 2])
    c, s = (torch.as_tensor(f(-crop_roll[turned]), dtype=torch.float64) for f in (np.cos, np.sin))
    turn = torch.zeros(len(turned), 3, 3, dtype=torch.float64)  # photo -> crop pixels (x right, y down)
    turn[:, 0, 0], turn[:, 0, 1], turn[:, 1, 0], turn[:, 1, 1], turn[:, 2, 2] = c, -s, s, c, 1.0
    yaw, pitch, roll = matrix_to_euler(turn.transpose(1, 2) @ r_crop)
    out = crop_angles_deg.copy()
    out[turned] = np.rad2deg(torch.stack([yaw, pitch, roll], 1).numpy())
    return out


def _cache_get(caches: list, key):
    """The first layer that has ``key``; a disk hit is copied into the faster layers."""
    for depth, cache in enumerate(caches):
        value = cache.get(key)
        if value is not None:
            for faster in caches[:depth]:
                faster.put(key, value)
            return value
    return None
