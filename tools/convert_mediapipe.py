"""Convert MediaPipe's face networks into torch files shipped by sk3dmm.

Two sources, both Apache-2.0:

* the ``mediapipe==0.10.21`` wheel, the last that ships the v1 ``.tflite`` files (BlazeFace short
  range and the 468-point mesh). It pins numpy<2 and protobuf<5, so it is never a dependency:
  this tool downloads it with ``pip download --no-deps``;
* the Face Landmarker v2 bundle ``face_landmarker.task`` (a zip of the detector, the 478-point
  landmark network and the 52-score blendshape network), given as ``--bundle``.

The flatbuffers are read with the ``tflite`` package (a pure-Python parser, no TensorFlow); for
each network a torch file is written holding

* ``graph``: the operators in execution order (type, input/output tensor ids, options), with
  the tensor shapes the file declares, and
* ``constants``: every weight, expanded from float16 to float32 (the file's DEQUANTIZE ops are
  resolved here, once),

which :class:`sk3dmm.faces.TFLiteGraph` runs in torch (batched, CPU or CUDA). A SHA-256 file is
written beside each output and the Apache-2.0 notice is copied.

Usage::

    pip install tflite
    python tools/convert_mediapipe.py [--wheel path/to/mediapipe-0.10.21-*.whl]
        [--bundle ../shared/mediapipe/face_landmarker.task]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

OUT_DIR = Path(__file__).resolve().parents[1] / "sk3dmm" / "faces" / "data"
WHEEL_VERSION = "0.10.21"
MODELS = {
    "mediapipe_face_detection_short_range": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "mediapipe_face_landmark": "mediapipe/modules/face_landmark/face_landmark.tflite",
}
# SHA-256 of the .tflite files inside mediapipe-0.10.21 (checked before converting)
TFLITE_SHA256 = {
    "mediapipe_face_detection_short_range": "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    "mediapipe_face_landmark": "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
}
BUNDLE_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "shared" / "mediapipe" / "face_landmarker.task"
# The bundle's face_detector.tflite is BlazeFace short range again: the same operators and the
# same weights as the wheel's file (checked by convert_bundle), so it is not written twice.
BUNDLE_DETECTOR = "face_detector.tflite"
BUNDLE_MODELS = {
    "mediapipe_v2_face_landmarks": "face_landmarks_detector.tflite",
    "mediapipe_v2_face_blendshapes": "face_blendshapes.tflite",
}
BUNDLE_TFLITE_SHA256 = {
    "mediapipe_v2_face_detector": "b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f",
    "mediapipe_v2_face_landmarks": "c7d54204ce0448474c7f3fa9af494787c0965cbdd6f20fc72867e43046bd43d5",
    "mediapipe_v2_face_blendshapes": "4f36dded049db18d76048567439b2a7f58f1daabc00d78bfe8f3ad396a2d2082",
}
SUPPORTED = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "RELU",
    "PRELU",
    "ADD",
    "PAD",
    "MAX_POOL_2D",
    "RESHAPE",
    "CONCATENATION",
    # the 478-point network's face score, and the blendshape network (an MLP-Mixer)
    "LOGISTIC",
    "MEAN",
    "SUM",
    "SUB",
    "MUL",
    "DIV",
    "SQRT",
    "RSQRT",
    "NEG",
    "SQUARED_DIFFERENCE",
    "TRANSPOSE",
    "STRIDED_SLICE",
}


def fetch_wheel(dest: Path) -> Path:
    """``pip download --no-deps mediapipe==0.10.21`` into ``dest``; the wheel's path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            f"mediapipe=={WHEEL_VERSION}",
            "-d",
            str(dest),
        ],
        check=True,
    )
    return next(dest.glob(f"mediapipe-{WHEEL_VERSION}-*.whl"))


def _options(op, tflite) -> dict:
    """The builtin options the torch graph needs, as plain Python values."""
    kinds = {
        tflite.BuiltinOptions.Conv2DOptions: tflite.Conv2DOptions,
        tflite.BuiltinOptions.DepthwiseConv2DOptions: tflite.DepthwiseConv2DOptions,
        tflite.BuiltinOptions.Pool2DOptions: tflite.Pool2DOptions,
        tflite.BuiltinOptions.AddOptions: tflite.AddOptions,
        tflite.BuiltinOptions.ConcatenationOptions: tflite.ConcatenationOptions,
        tflite.BuiltinOptions.MulOptions: tflite.MulOptions,
        tflite.BuiltinOptions.SubOptions: tflite.SubOptions,
        tflite.BuiltinOptions.DivOptions: tflite.DivOptions,
        tflite.BuiltinOptions.ReducerOptions: tflite.ReducerOptions,
        tflite.BuiltinOptions.StridedSliceOptions: tflite.StridedSliceOptions,
    }
    if op.BuiltinOptionsType() not in kinds:
        return {}
    o = kinds[op.BuiltinOptionsType()]()
    table = op.BuiltinOptions()
    o.Init(table.Bytes, table.Pos)
    out = {"activation": o.FusedActivationFunction()} if hasattr(o, "FusedActivationFunction") else {}
    if hasattr(o, "StrideH"):  # convolutions and pooling
        out["stride"] = (o.StrideH(), o.StrideW())
        out["padding"] = "same" if o.Padding() == tflite.Padding.SAME else "valid"
    if hasattr(o, "DilationHFactor"):
        out["dilation"] = (o.DilationHFactor(), o.DilationWFactor())
    if hasattr(o, "DepthMultiplier"):
        out["depth_multiplier"] = o.DepthMultiplier()
    if hasattr(o, "FilterHeight"):
        out["kernel"] = (o.FilterHeight(), o.FilterWidth())
    if hasattr(o, "Axis"):
        out["axis"] = o.Axis()
    if hasattr(o, "KeepDims"):
        out["keep_dims"] = bool(o.KeepDims())
    if hasattr(o, "ShrinkAxisMask"):
        out.update(
            begin_mask=o.BeginMask(),
            end_mask=o.EndMask(),
            shrink_axis_mask=o.ShrinkAxisMask(),
            ellipsis_mask=o.EllipsisMask(),
            new_axis_mask=o.NewAxisMask(),
        )
    return out


def convert(tflite_bytes: bytes) -> dict:
    """Operators and float32 constants of one ``.tflite`` file (see module docstring)."""
    import tflite

    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    graph = model.Subgraphs(0)
    op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    def tensor_array(i: int) -> np.ndarray | None:
        t = graph.Tensors(i)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = {
            tflite.TensorType.FLOAT16: np.float16,
            tflite.TensorType.FLOAT32: np.float32,
            tflite.TensorType.INT32: np.int32,
            tflite.TensorType.INT64: np.int64,
        }[t.Type()]
        shape = t.ShapeAsNumpy() if t.ShapeLength() else ()
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(shape)

    constants: dict[str, torch.Tensor] = {}
    ops = []
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = op_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        inputs = [op.Inputs(j) for j in range(op.InputsLength())]
        outputs = [op.Outputs(j) for j in range(op.OutputsLength())]
        if name == "DEQUANTIZE":
            constants[str(outputs[0])] = torch.from_numpy(tensor_array(inputs[0]).astype(np.float32))
            continue
        if name not in SUPPORTED:
            raise ValueError(f"operator {name} is not supported by sk3dmm's TFLite graph")
        for i in inputs:
            if i >= 0 and str(i) not in constants:
                arr = tensor_array(i)
                if arr is not None:
                    constants[str(i)] = torch.from_numpy(
                        arr.astype(np.float32 if arr.dtype.kind == "f" else np.int64)
                    )
        ops.append({"op": name, "inputs": inputs, "outputs": outputs, "options": _options(op, tflite)})
    shapes = {
        str(i): [int(s) for s in graph.Tensors(i).ShapeAsNumpy()] if graph.Tensors(i).ShapeLength() else []
        for i in range(graph.TensorsLength())
    }
    names = {str(i): graph.Tensors(i).Name().decode() for i in range(graph.TensorsLength())}
    return {
        "graph": {
            "ops": ops,
            "inputs": [graph.Inputs(j) for j in range(graph.InputsLength())],
            "outputs": [graph.Outputs(j) for j in range(graph.OutputsLength())],
            "shapes": shapes,
            "names": names,
        },
        "constants": constants,
    }


def write_network(data: bytes, name: str, expected_sha256: str, source: dict, out_dir: Path) -> None:
    """Check one ``.tflite`` file's SHA-256, convert it and write ``name.pt`` and ``name.sha256``."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise SystemExit(f"{source['member']}: SHA-256 {digest} is not the expected file's")
    payload = convert(data)
    payload["source"] = {**source, "sha256": digest, "license": "Apache-2.0"}
    path = out_dir / f"{name}.pt"
    torch.save(payload, path)
    (out_dir / f"{name}.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")
    print(
        f"{path.name}: {len(payload['graph']['ops'])} ops, "
        f"{sum(v.numel() for v in payload['constants'].values())} constants"
    )


def _check_same_detector(data: bytes, out_dir: Path) -> None:
    if hashlib.sha256(data).hexdigest() != BUNDLE_TFLITE_SHA256["mediapipe_v2_face_detector"]:
        raise SystemExit(f"{BUNDLE_DETECTOR}: not the expected file")
    v1 = torch.load(out_dir / "mediapipe_face_detection_short_range.pt", weights_only=False)
    v2 = convert(data)
    same = [op["op"] for op in v1["graph"]["ops"]] == [op["op"] for op in v2["graph"]["ops"]] and all(
        a.shape == b.shape and torch.equal(a, b)
        for a, b in zip(*(sorted(p["constants"].values(), key=lambda t: (t.numel(), float(t.sum()))) for p in (v1, v2)))
    )
    if not same:
        raise SystemExit(f"{BUNDLE_DETECTOR} differs from the wheel's BlazeFace: convert it too")
    print(f"{BUNDLE_DETECTOR}: the same network as mediapipe_face_detection_short_range.pt (not written)")


def convert_bundle(bundle: Path, out_dir: Path) -> None:
    """The three networks of the Face Landmarker v2 bundle (SHA-256 checked)."""
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    if digest != BUNDLE_SHA256:
        raise SystemExit(f"{bundle}: SHA-256 {digest} is not face_landmarker.task's ({BUNDLE_SHA256})")
    with zipfile.ZipFile(bundle) as zf:
        _check_same_detector(zf.read(BUNDLE_DETECTOR), out_dir)
        for name, member in BUNDLE_MODELS.items():
            source = {"bundle": "face_landmarker.task", "bundle_sha256": digest, "member": member}
            write_network(zf.read(member), name, BUNDLE_TFLITE_SHA256[name], source, out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", help="a local mediapipe-0.10.21 wheel (default: pip download it)")
    parser.add_argument("--bundle", default=str(DEFAULT_BUNDLE), help="face_landmarker.task (v2)")
    parser.add_argument("--only-bundle", action="store_true", help="convert the v2 bundle only")
    parser.add_argument("--out", default=str(OUT_DIR))
    args = parser.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    convert_bundle(Path(args.bundle), out_dir)
    if args.only_bundle:
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(args.wheel) if args.wheel else fetch_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            for name, member in MODELS.items():
                source = {"wheel": f"mediapipe=={WHEEL_VERSION}", "member": member}
                write_network(zf.read(member), name, TFLITE_SHA256[name], source, out_dir)
            license_text = zf.read(f"mediapipe-{WHEEL_VERSION}.dist-info/LICENSE").decode()
    (out_dir / "MediaPipe-LICENSE").write_text(
        "The files mediapipe_*.pt are converted from MediaPipe's model files "
        "(https://github.com/google-ai-edge/mediapipe), Apache License 2.0, reproduced below:\n"
        f"* mediapipe_face_*.pt from the .tflite files of the mediapipe {WHEEL_VERSION} wheel;\n"
        "* mediapipe_v2_*.pt from the Face Landmarker v2 bundle face_landmarker.task (SHA-256\n"
        f"  {BUNDLE_SHA256}).\n"
        "Converted by sk3dmm's tools/convert_mediapipe.py (float16 weights expanded to float32; "
        "no other change).\n\n" + license_text
    )


if __name__ == "__main__":
    main()
