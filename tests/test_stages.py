"""The stages of photo -> coefficients: per-stage cache keys, registries, and the shape of the code
(short functions, names only in registries)."""

import ast
from pathlib import Path

import numpy as np
import pytest

import sk3dmm
from sk3dmm import Reconstruct3DMM
from sk3dmm.faces import LANDMARKERS, get_landmarker, register_landmarker
from sk3dmm.faces.landmarkers import landmarker_factory
from sk3dmm.nets import RNet
from sk3dmm.regressors import METHODS, REGRESSORS, register_method

PACKAGE = Path(sk3dmm.__file__).resolve().parent
PATH_MODULES = [  # the photo -> coefficients path
    *sorted((PACKAGE / "pipeline").glob("*.py")),
    *sorted((PACKAGE / "regressors").glob("*.py")),
    *sorted((PACKAGE / "faces").glob("*.py")),
    *sorted((PACKAGE / "faces" / "landmarkers").glob("*.py")),
    *sorted((PACKAGE / "fitting").glob("*.py")),
    PACKAGE / "transformers" / "_reconstruct.py",
]
REGISTRIES = {PACKAGE / "regressors" / "__init__.py", PACKAGE / "faces" / "landmarkers" / "__init__.py"}

DefaultLandmarker = landmarker_factory(Reconstruct3DMM().detector)  # the default detector's class


def _counting(monkeypatch, cls, attribute):
    calls = []
    real = getattr(cls, attribute)

    def counted(self, *args):
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(cls, attribute, counted)
    return calls


def _stats(est) -> dict:
    return {row.stage: (row.computed, row.reused) for row in est.cache_stats_.itertuples()}


def test_a_fitting_setting_change_reuses_detections_crops_and_r_net(face_photos, monkeypatch):
    from sk3dmm import clear_cache

    clear_cache()
    photos = face_photos[:4]
    detects = _counting(monkeypatch, DefaultLandmarker, "detect")
    nets = _counting(monkeypatch, RNet, "predict_with_features")
    first = Reconstruct3DMM(method="rnet_refined", n_iter=4)
    a = first.fit_transform(photos)
    assert len(detects) == 4 and len(nets) == 1  # one batch through R-Net
    profile = {"the profile R-Net": (4, 0)}  # after the fit: faces whose mesh is unusable (none here)
    assert _stats(first) == {
        "detection": (4, 0),
        "the crop": (4, 0),
        "R-Net": (4, 0),
        "the fit": (4, 0),
        **profile,
    }
    second = Reconstruct3DMM(method="rnet_refined", n_iter=2, expression_reg=0.1)
    b = second.fit_transform(photos)
    assert len(detects) == 4 and len(nets) == 1  # nothing detected or regressed again
    assert _stats(second) == {
        "detection": (0, 4),
        "the crop": (0, 4),
        "R-Net": (0, 4),
        "the fit": (4, 0),
        **profile,
    }
    assert not np.array_equal(a, b)  # the fit did run with the new settings
    # another method over the same detector reuses the detections; R-Net's crop is its own
    third = Reconstruct3DMM(method="landmarks")
    third.fit_transform(photos)
    assert len(detects) == 4
    # the reused stages give the rows a cold run gives
    cold = Reconstruct3DMM(method="rnet_refined", n_iter=2, expression_reg=0.1, cache=False)
    np.testing.assert_array_equal(b, cold.fit_transform(photos))
    assert _stats(third)["detection"] == (0, 4)
    clear_cache()


def test_a_new_landmarker_is_one_module_and_one_registry_line(astronaut):
    register_landmarker("toy68", "tests.toy_landmarker:Toy68")
    try:
        est = Reconstruct3DMM(detector="toy68", coef=("alpha", "beta", "pose"), cache=False)
        rows = est.fit_transform([astronaut])
        toy = get_landmarker("toy68")
        assert toy.calls == 1 and np.isfinite(rows).all()
        rec = est.reconstructions_[0]
        assert rec.mesh is None  # a 68-point scheme: the model's 68 landmarks are fitted
        dense = Reconstruct3DMM(detector="mediapipe", coef=("alpha", "beta", "pose"), cache=False)
        dense_rows = dense.fit_transform([astronaut])
        np.testing.assert_array_equal(rec.landmarks, dense.reconstructions_[0].landmarks)
        assert not np.array_equal(rows, dense_rows)  # 68 points fitted, not 468
        yaw = est.get_feature_names_out().tolist().index("pose_yaw")
        assert abs(rows[0, yaw] - dense_rows[0, yaw]) < 6.0  # the same head; measured 0.9 degrees
    finally:
        LANDMARKERS.pop("toy68")


def test_unknown_names_list_the_registered_ones(astronaut):
    with pytest.raises(
        ValueError, match=r"unknown detector 'nope'; registered: \['cascade', 'cnn', 'face_alignment'"
    ):
        Reconstruct3DMM(detector="nope").fit()
    with pytest.raises(ValueError, match=r"unknown method 'nope'; registered: \[.*'landmarks', 'rnet'"):
        Reconstruct3DMM(method="nope").fit()
    with pytest.raises(ValueError, match="unknown regressors"):
        register_method("bad", ("no_such_regressor",))


def test_a_method_is_a_recipe_of_registered_regressors(face_photos):
    register_method("rnet_then_free_fit", ("rnet", "dense_fit"))
    try:
        est = Reconstruct3DMM(method="rnet_then_free_fit", cache=False)
        rows = est.fit_transform(face_photos[:2])
        landmarks = Reconstruct3DMM(method="landmarks", cache=False).fit_transform(face_photos[:2])
        # the free fit ignores the shape before it: the landmark method's rows, R-Net's features kept
        np.testing.assert_array_equal(rows, landmarks)
        size = est.rnet_.input_size  # R-Net's crop, not the landmark method's 112 px one
        assert est.reconstructions_[0].features is not None and est.reconstructions_[0].crop.shape == (
            size,
            size,
            3,
        )
    finally:
        METHODS.pop("rnet_then_free_fit")


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _body_lines(fn) -> int:
    body = fn.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring does not count
    return fn.end_lineno - body[0].lineno + 1


def test_the_composing_function_reads_in_one_screen():
    from sk3dmm.pipeline import _reconstruct

    (fn,) = [f for f in _functions(Path(_reconstruct.__file__)) if f.name == "reconstruct_photos"]
    assert _body_lines(fn) <= 60, _body_lines(fn)


def test_no_function_of_the_path_is_long_or_takes_many_parameters():
    """<= 50 lines and <= 6 parameters; the exceptions are public signatures kept as they were:
    the estimator's hyperparameters, ``fit_shape_and_pose``'s keyword options, and the camera
    arguments of the public fitting steps ``refine_pose`` and ``linear_shape_system`` (8 each:
    points, rotation, translation, focal, centre, weights ...; called positionally), and the
    TorchScript steps behind ``refine_pose`` and ``solve_box_qp`` (a scripted function takes
    tensors, not records), and ``solve_box_qp`` itself (bounds, a warm start and their
    partition, for a caller that solves many problems in the same box)."""
    allowed_params = {
        ("_reconstruct.py", "__init__"),
        ("_fit.py", "fit_shape_and_pose"),
        ("_pose.py", "refine_pose"),
        ("_pose.py", "_levenberg_marquardt"),
        ("_pose.py", "_cost"),
        ("_shape.py", "_active_set_steps"),
        ("_shape.py", "solve_box_qp"),
        ("_shape.py", "linear_shape_system"),
    }
    bad = []
    for path in PATH_MODULES:
        for fn in _functions(path):
            args = fn.args
            params = [
                a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")
            ]
            if _body_lines(fn) > 50:
                bad.append(f"{path.relative_to(PACKAGE)}:{fn.name} has {_body_lines(fn)} lines")
            if len(params) > 6 and (path.name, fn.name) not in allowed_params:
                bad.append(f"{path.relative_to(PACKAGE)}:{fn.name} takes {len(params)} parameters")
    assert bad == [], "\n".join(bad)


def test_method_and_detector_names_live_in_the_registries():
    """Outside the registries (and the landmarker/regressor modules that implement the names),
    a method or detector name may be a parameter's default or documentation, never a branch."""
    names = set(METHODS) | set(LANDMARKERS) | set(REGRESSORS)
    implementers = {
        *(PACKAGE / "faces" / "landmarkers").glob("_*.py"),
        *(PACKAGE / "regressors").glob("_*.py"),
    }
    found = []
    for path in PATH_MODULES:
        if path in REGISTRIES or path in implementers:
            continue
        tree = ast.parse(path.read_text())
        allowed = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
                if ast.get_docstring(node) is not None:
                    allowed.add(id(node.body[0].value))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                allowed.update(id(d) for d in node.args.defaults + node.args.kw_defaults if d is not None)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in allowed:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert found == [], "\n".join(found)
