"""Every failure defined: bad photos, model files, sets, pixel types, and a fuzz over inputs.

Each test reproduces one defect of issues #10 / #14 (it failed before the fix) and pins the
documented behaviour.
"""

import io
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from sk3dmm import (
    FaceNotFoundError,
    ImageReadError,
    LandmarkFitter,
    ModelFileError,
    Reconstruct3DMM,
    SetAggregator,
    load_bfm_model,
    load_ict_model,
)
from sk3dmm.faces import load_image, to_rgb_uint8
from sk3dmm.pipeline._errors import SampleFailure

METHODS = ["landmarks", "rnet"]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, astronaut):
    """(input, expected to reconstruct) pairs: good photos in many forms and the bad kinds."""
    d = tmp_path_factory.mktemp("matrix")
    text = d / "text.jpg"
    text.write_text("not an image")
    empty = d / "empty.png"
    empty.write_bytes(b"")
    truncated = d / "truncated.jpg"
    Image.fromarray(astronaut).save(d / "full.jpg", quality=90)
    truncated.write_bytes((d / "full.jpg").read_bytes()[:4000])
    png16 = d / "gray16.png"
    Image.fromarray((astronaut.mean(-1) * 257).astype(np.uint16)).save(png16)
    with open(d / "full.jpg", "rb") as f:
        file_object = io.BytesIO(f.read())
    return [
        (astronaut, True),
        (np.full((200, 200, 3), 128, np.uint8), False),  # no face
        (str(text), False),  # not an image
        (str(empty), False),  # empty file
        (str(truncated), False),  # truncated JPEG
        (str(d / "missing.jpg"), False),  # no such file
        (str(d), False),  # a folder
        (np.zeros((4, 4, 3), np.uint8), False),  # too small
        (np.full((64, 64, 3), np.nan, np.float32), False),  # NaN pixels
        (np.zeros((64, 64, 2), np.uint8), False),  # two channels
        (astronaut > 128, False),  # boolean
        (42, False),  # not an image at all
        (png16, True),  # 16-bit PNG
        (file_object, True),  # a binary file object
        (astronaut.astype(np.float32) / 255, True),  # float in [0, 1]
        (astronaut.astype(np.int64) * 257, True),  # 16-bit values in int64
    ]


@pytest.mark.parametrize("method", METHODS)
def test_bad_input_matrix_on_both_methods(matrix, method):
    items = [x for x, _ in matrix]
    expected = np.array([ok for _, ok in matrix])
    for x in items:
        if hasattr(x, "seek"):
            x.seek(0)
    est = Reconstruct3DMM(method=method, on_error="nan", cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "nan" is quiet
        X = est.fit_transform(items)
    ok = np.isfinite(X).all(1)
    assert ok.tolist() == expected.tolist()
    assert np.isnan(X[~ok]).all()
    assert est.failures_["index"].tolist() == np.flatnonzero(~expected).tolist()
    assert est.failures_["reason"].str.len().gt(5).all()
    # the good rows do not depend on the bad ones around them
    good = Reconstruct3DMM(method=method, cache=False).fit_transform([items[0]])
    np.testing.assert_allclose(X[0], good[0], atol=1e-5)  # measured 0.0 (the same row)


def test_raise_stops_at_the_first_failure_without_doing_the_rest(astronaut, monkeypatch):
    from sk3dmm.faces.landmarkers import landmarker_factory

    default = landmarker_factory(Reconstruct3DMM().detector)
    calls = []
    real = default.detect
    monkeypatch.setattr(default, "detect", lambda self, im: calls.append(1) or real(self, im))
    photos = [np.full((100, 100, 3), 90, np.uint8), "nowhere.jpg"] + [astronaut] * 5
    with pytest.raises(FaceNotFoundError, match=r"^sample 0: no face detected"):
        Reconstruct3DMM(on_error="raise", cache=False).fit_transform(photos)
    assert len(calls) == 1  # the read error of sample 1 stopped everything after it
    with pytest.raises(ImageReadError, match=r"^sample 1 \(nowhere.jpg\): file not found"):
        Reconstruct3DMM(on_error="raise", cache=False).fit_transform([astronaut, "nowhere.jpg", astronaut])


def test_one_photo_as_X_is_refused_not_read_as_512_images(astronaut):
    for on_error in ("raise", "nan"):
        with pytest.raises(ValueError, match=r"one 512x512 photo with 3 channels.*\[photo\]"):
            Reconstruct3DMM(on_error=on_error).fit_transform(astronaut)
    assert Reconstruct3DMM().fit_transform([astronaut]).shape == (1, 153)


def test_deep3d_checkpoint_with_the_ict_model_fails_in_fit(tmp_path):
    from sk3dmm.nets import RNet
    from sk3dmm.nets._rnet import DEEP3D_SIZES

    net = RNet(DEEP3D_SIZES, backbone="resnet18")
    torch.save({"net_recon": net.state_dict()}, tmp_path / "epoch_20.pth")
    savemat(tmp_path / "lm.mat", {"lm": np.random.default_rng(0).normal(size=(68, 3))})
    est = Reconstruct3DMM(method="rnet", weights=tmp_path / "epoch_20.pth", template=tmp_path / "lm.mat")
    with pytest.raises(ModelFileError, match=r"80 identity / 64 expression.*has 100 / 53"):
        est.fit()


def test_large_photos_are_downscaled_for_detection(astronaut, monkeypatch):
    from sk3dmm.faces.landmarkers._dlib import DlibLandmarker

    big = np.asarray(Image.fromarray(astronaut).resize((2048, 2048), Image.BICUBIC))
    seen = []  # the pixels the detector was given (no timing: a count that cannot flake)
    detect = DlibLandmarker.detect
    monkeypatch.setattr(DlibLandmarker, "detect", lambda self, im: seen.append(im.shape) or detect(self, im))
    # the budget matters most for dlib's HOG, whose cost grows with the pixels it scans
    direct = Reconstruct3DMM(cache=False, max_pixels=5_000_000, detector="hog")
    direct.fit_transform([big])
    budget = Reconstruct3DMM(cache=False, max_pixels=400_000, detector="hog", keep_crops=True)
    budget.fit_transform([big])
    assert seen == [(2048, 2048, 3), (632, 632, 3)]  # 632^2 = 399,424 pixels
    a, b = direct.reconstructions_[0], budget.reconstructions_[0]
    assert b.image_size == (2048, 2048)  # results stay in the photo's own pixels
    assert np.abs(a.landmarks - b.landmarks).mean() < 6.0  # 4x coarser, mapped back; measured 1.2 px
    # HOG boxes come in pyramid steps; measured 0.089 of the box's width
    assert np.abs(a.box - b.box).max() < 0.12 * (a.box[2] - a.box[0])
    eyes = b.to_crop(b.landmarks[[36, 45]])  # the crop's turn and affine map photo pixels into the crop
    assert (eyes > 0).all() and (eyes < b.crop.shape[0]).all()
    small = Reconstruct3DMM(cache=False, max_pixels=400_000).fit().reconstruct([big])[0]  # MediaPipe
    assert small.image_size == (2048, 2048)
    assert np.abs(small.landmarks - a.landmarks).mean() < 25  # the detectors agree; measured 5.2 px


def test_sets_with_no_usable_photo_are_nan_rows_and_errors_name_the_set(astronaut):
    blank = np.full((120, 120, 3), 100, np.uint8)
    sets = [[astronaut, astronaut[:, ::-1].copy()], [blank, blank], [astronaut]]
    rec = Reconstruct3DMM(coef="alpha", on_error="nan")
    imagesets = rec.fit_transform(sets)
    assert rec.failures_["sample"].tolist() == ["set 1, photo 0", "set 1, photo 1"]
    agg = SetAggregator("mean").fit_transform(imagesets)
    assert np.isnan(agg[1]).all() and np.isfinite(agg[[0, 2]]).all()
    with pytest.raises(FaceNotFoundError, match=r"^set 1, photo 0: no face detected"):
        Reconstruct3DMM(coef="alpha", on_error="raise").fit_transform(sets)
    with pytest.raises(ValueError, match="at least one image set"):
        SetAggregator().fit([])


def test_user_model_files_get_clear_errors(tmp_path):
    from sk3dmm.morphable._ict import ICT_FILE
    from tests.conftest import corrupt_copy

    bad_npz = corrupt_copy(ICT_FILE, tmp_path / "model.npz", position=0.001)
    with pytest.raises(ModelFileError, match=r"model.npz: not a readable sk3dmm .npz model"):
        load_ict_model(bad_npz)
    (tmp_path / "zeros.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(ModelFileError, match="zeros.npz"):
        Reconstruct3DMM(model=tmp_path / "zeros.npz").fit()
    with pytest.raises(ModelFileError, match=r"nothere.mat: file not found"):
        load_bfm_model(tmp_path / "nothere.mat")
    n = 30
    mat = {
        "meanshape": np.zeros((1, 3 * n)),
        "idBase": np.zeros((3 * n - 3, 80)),  # one vertex short
        "exBase": np.zeros((3 * n, 64)),
        "meantex": np.zeros((1, 3 * n)),
        "texBase": np.zeros((3 * n, 80)),
        "tri": np.ones((10, 3)),
        "keypoints": np.arange(1, 69)[None],
    }
    savemat(tmp_path / "bfm.mat", mat)
    with pytest.raises(
        ModelFileError, match=r"not a consistent BFM_model_front.mat: idBase has shape \(87, 80\)"
    ):
        load_bfm_model(tmp_path / "bfm.mat")
    (tmp_path / "cnet.pt").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match=r"C-Net weights .*cnet.pt: not a readable PyTorch checkpoint"):
        SetAggregator("cnet", cnet_weights=tmp_path / "cnet.pt", train_cnet=False).fit([np.zeros((2, 100))])
    torch.save({"something": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match=r"not an sk3dmm C-Net checkpoint"):
        SetAggregator("cnet", cnet_weights=tmp_path / "other.pt", train_cnet=False).fit([np.zeros((2, 100))])


def test_missing_embedded_cnet_is_an_error_not_the_mean(tmp_path, monkeypatch):
    import sk3dmm.transformers._aggregate as agg

    monkeypatch.setattr(agg, "EMBEDDED_CNET", tmp_path / "cnet_ict.pt")
    sets = np.random.default_rng(0).normal(size=(2, 3, 100)).astype(np.float32)
    with pytest.raises(ModelFileError, match=r"cnet_ict.pt is missing .* incomplete"):
        SetAggregator("cnet").transform(list(sets))


def test_pixel_type_rule():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 65536, (16, 16), dtype=np.uint16)
    np.testing.assert_array_equal(to_rgb_uint8(base.astype(np.int64)), to_rgb_uint8(base))  # same rule
    small = rng.integers(0, 256, (16, 16))
    np.testing.assert_array_equal(
        to_rgb_uint8(small.astype(np.int8 if small.max() < 128 else np.int16)),
        to_rgb_uint8(small.astype(np.uint8)),
    )
    for bad, message in [
        (np.zeros((16, 16), bool), "boolean array is a mask"),
        (np.full((16, 16), -3, np.int8), "from -3 to -3"),
        (np.full((16, 16), 70000, np.int64), "from 70000 to 70000"),
        (np.full((16, 16), 300.0), r"float pixels must lie in \[0, 1\] or \[0, 255\]"),
        (np.full((16, 16), -0.5), "float pixels"),
        (np.zeros((16, 16), np.complex64), "unsupported pixel type"),
    ]:
        with pytest.raises(ImageReadError, match=message):
            to_rgb_uint8(bad, "img")


def test_exif_orientation_and_file_objects(tmp_path, astronaut):
    rotated = np.ascontiguousarray(np.rot90(astronaut, 1))  # stored sideways, as a phone does
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(rotated).save(path, exif=exif, quality=95)
    upright = load_image(path)
    assert upright.shape == astronaut.shape
    assert np.abs(upright.astype(int) - astronaut).mean() < 4  # JPEG q95; measured 1.95 grey levels
    with open(path, "rb") as f:
        np.testing.assert_array_equal(load_image(f), upright)
    assert np.isfinite(Reconstruct3DMM().fit_transform([str(path)])).all()


def test_landmark_fitter_names_degenerate_rows(ict):
    lm = ict.mean[ict.landmark_indices, :2].astype(np.float64)
    face = ((lm - lm.mean(0)) * [7.0, -7.0] + 200.0).reshape(-1)
    X = np.tile(face, (4, 1))
    X[2] = 5.0  # one spot
    X[3, ::2] = 100.0  # one vertical line
    with pytest.raises(ValueError, match=r"^sample 2: degenerate landmarks"):
        LandmarkFitter().fit_transform(X)
    with pytest.warns(SampleFailure, match="2 of the samples failed"):
        out = LandmarkFitter(on_error="warn").fit_transform(X)
    assert np.isfinite(out[:2]).all() and np.isnan(out[2:]).all()
    np.testing.assert_array_equal(out[0], LandmarkFitter().fit_transform(X[:1])[0])  # float64: bitwise


def test_float64_results_are_reproducible_across_calls_and_batches(face_photos):
    a = Reconstruct3DMM(cache=False).fit_transform(face_photos[:5])
    b = Reconstruct3DMM(cache=False).fit_transform(face_photos[3:5] + face_photos[:1])
    np.testing.assert_array_equal(a[[3, 4, 0]], b)
    assert not Reconstruct3DMM().__sklearn_tags__().non_deterministic
    assert Reconstruct3DMM(precision="float32").__sklearn_tags__().non_deterministic


def test_sample_failure_warning_points_at_the_callers_line(astronaut):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(Reconstruct3DMM(on_error="warn"), FunctionTransformer())
    with pytest.warns(SampleFailure) as record:
        pipe.fit_transform([astronaut, "missing.jpg"])  # the line the warning must name
    assert record[0].filename == __file__


def test_transform_before_fit_leaves_no_fitted_attributes(astronaut):
    est = Reconstruct3DMM(coef="beta")
    assert est.get_feature_names_out()[0] == "beta_browDown_L"
    est.transform([astronaut])
    assert not hasattr(est, "model_") and not hasattr(est, "feature_names_out_")


# -------------------------------------------------------------------------- fuzz
def _random_input(rng: np.random.Generator):
    """One random sample: arrays of random shape, dtype and value range, or odd objects."""
    kind = rng.integers(0, 5)
    if kind == 4:
        return [None, "", 3.5, b"bytes", {"a": 1}, [1, 2, 3], np.array(5)][rng.integers(0, 7)]
    ndim = rng.integers(1, 5)
    shape = tuple(int(s) for s in rng.integers(0, 40, ndim))
    dtype = [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64, bool][
        rng.integers(0, 9)
    ]
    scale = [1, 255, 65535, 1e6, -1][rng.integers(0, 5)]
    values = rng.normal(0.5, 0.5, shape) * scale
    if kind == 3 and np.issubdtype(dtype, np.floating) and values.size:
        values.flat[0] = [np.nan, np.inf][rng.integers(0, 2)]
    with np.errstate(all="ignore"):
        return values.astype(dtype)


def test_fuzz_inputs_never_crash_outside_the_documented_errors():
    rng = np.random.default_rng(20261122)
    est = Reconstruct3DMM(on_error="nan", cache=False)
    for _ in range(60):
        batch = [_random_input(rng) for _ in range(int(rng.integers(1, 4)))]
        try:
            out = est.fit_transform(batch)
        except ValueError as exc:  # documented: the batch itself is malformed (e.g. one photo as X)
            assert str(exc)
            continue
        if isinstance(batch[0], list):  # documented: a list of lists is a batch of image sets
            assert out.dtype == object and len(out) == len(batch)
            continue
        assert out.shape == (len(batch), 153)
        assert np.isnan(out).all()  # none of these is a face
        assert len(est.failures_) == len(batch)
        for sample in batch:
            with pytest.raises((ImageReadError, FaceNotFoundError)):
                Reconstruct3DMM(on_error="raise", cache=False).fit_transform([sample])


def test_dataframe_column_of_paths_and_column_transformer(tmp_path, astronaut):
    from sklearn.compose import ColumnTransformer

    path = tmp_path / "a.png"
    Image.fromarray(astronaut).save(path)
    frame = pd.DataFrame({"photo": [str(path), str(path)], "age": [30, 40]})
    direct = Reconstruct3DMM(coef="beta").fit_transform([str(path)])
    np.testing.assert_array_equal(Reconstruct3DMM(coef="beta").fit_transform(frame[["photo"]])[1], direct[0])
    np.testing.assert_array_equal(Reconstruct3DMM(coef="beta").fit_transform(frame["photo"])[0], direct[0])
    ct = ColumnTransformer([("face", Reconstruct3DMM(coef="beta"), ["photo"])], remainder="passthrough")
    out = ct.fit_transform(frame)
    assert out.shape == (2, 54) and out[0, -1] == 30
    assert ct.get_feature_names_out()[0] == "face__beta_browDown_L"
    with pytest.raises(ValueError, match="must have one column"):
        Reconstruct3DMM().fit_transform(frame)


def test_expression_is_stable_under_jpeg_reencoding(face_photos):
    """Issue #14, item 11: re-saving a photo as JPEG q95 moves dlib's points by a pixel or two;
    the blendshapes must not jump (they moved by up to 0.6 with the old prior of 1e-2)."""
    reencoded = []
    for photo in face_photos:
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, format="JPEG", quality=95)
        reencoded.append(np.asarray(Image.open(buf).convert("RGB")))
    est = Reconstruct3DMM(method="landmarks", detector="mediapipe", coef="beta", cache=False)
    delta = np.abs(est.fit_transform(face_photos) - est.fit_transform(reencoded))
    assert np.nanmax(delta) <= 0.1  # measured 0.011
    # the default (MediaPipe v2's blendshape network, 0.1 per pixel of its points): measured 0.084
    default = Reconstruct3DMM(coef="beta", cache=False)
    assert np.nanmax(np.abs(default.fit_transform(face_photos) - default.fit_transform(reencoded))) <= 0.15
    loose = Reconstruct3DMM(method="landmarks", detector="mediapipe", coef="beta", cache=False, expression_reg=1e-2)
    assert np.nanmax(np.abs(loose.fit_transform(face_photos) - loose.fit_transform(reencoded))) > np.nanmax(
        delta
    )


def test_a_corrupt_jpeg_is_unreadable_with_the_decoders_message(tmp_path, astronaut):
    from tests.conftest import corrupt_copy

    good = tmp_path / "good.jpg"
    Image.fromarray(astronaut).save(good, quality=90)
    np.testing.assert_array_equal(load_image(good), np.asarray(Image.open(good).convert("RGB")))
    # of 60 single-byte flips across this file libjpeg warns about 17 (the others decode to a
    # garbled photo no decoder can tell from a real one); this one it warns about
    bad = corrupt_copy(good, tmp_path / "bad.jpg", position=0.7)
    with pytest.raises(
        ImageReadError, match=r"bad.jpg: not a readable image \(the JPEG decoder says: Corrupt JPEG"
    ):
        load_image(str(bad), str(bad))
    est = Reconstruct3DMM(on_error="nan", cache=False)
    est.fit_transform([str(bad)])
    assert est.failures_["reason"][0].startswith("not a readable image (the JPEG decoder says: Corrupt JPEG")


def test_half_transparent_photo_is_composited_on_white():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :8, 3] = 255  # left half opaque red-ish, right half fully transparent
    rgba[:, 8:, 3] = 0
    rgba[0, 0, 3] = 128
    rgb = to_rgb_uint8(rgba)
    assert (rgb[:, 8:] == 255).all()  # transparent: white
    assert rgb[1, 1].tolist() == [200, 0, 0]
    assert rgb[0, 0].tolist() == [227, 127, 127]  # alpha 128/255: 200 a + 255 (1 - a), rounded
