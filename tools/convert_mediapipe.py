"""Convert MediaPipe's face detector and face-landmark networks into torch files shipped by sk3dmm.

The ``mediapipe==0.10.21`` wheel (Apache-2.0) is the last that ships the ``.tflite`` model files.
It pins numpy<2 and protobuf<5, so it is never a dependency: this tool downloads the wheel with
``pip download --no-deps``, reads the flatbuffers with the ``tflite`` package (a pure-Python
parser, no TensorFlow) and writes, for each network, a torch file holding

* ``graph``: the operators in execution order (type, input/output tensor ids, options), with
  the tensor shapes the file declares, and
* ``constants``: every weight, expanded from float16 to float32 (the file's DEQUANTIZE ops are
  resolved here, once),

which :class:`sk3dmm.faces.TFLiteGraph` runs in torch (batched, CPU or CUDA). A SHA-256 file is
written beside each output and the Apache-2.0 notice is copied.

Usage::

    pip install tflite
    python tools/convert_mediapipe.py [--wheel path/to/mediapipe-0.10.21-*.whl]
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
    }
    if op.BuiltinOptionsType() not in kinds:
        return {}
    o = kinds[op.BuiltinOptionsType()]()
    table = op.BuiltinOptions()
    o.Init(table.Bytes, table.Pos)
    out = {"activation": o.FusedActivationFunction()}
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
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy())

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
    shapes = {str(i): [int(s) for s in graph.Tensors(i).ShapeAsNumpy()] for i in range(graph.TensorsLength())}
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", help="a local mediapipe-0.10.21 wheel (default: pip download it)")
    parser.add_argument("--out", default=str(OUT_DIR))
    args = parser.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(args.wheel) if args.wheel else fetch_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            for name, member in MODELS.items():
                data = zf.read(member)
                digest = hashlib.sha256(data).hexdigest()
                if digest != TFLITE_SHA256[name]:
                    raise SystemExit(f"{member}: SHA-256 {digest} is not the 0.10.21 file's")
                payload = convert(data)
                payload["source"] = {
                    "wheel": f"mediapipe=={WHEEL_VERSION}",
                    "member": member,
                    "sha256": digest,
                    "license": "Apache-2.0",
                }
                path = out_dir / f"{name}.pt"
                torch.save(payload, path)
                (out_dir / f"{name}.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")
                print(
                    f"{path.name}: {len(payload['graph']['ops'])} ops, "
                    f"{sum(v.numel() for v in payload['constants'].values())} constants"
                )
            license_text = zf.read(f"mediapipe-{WHEEL_VERSION}.dist-info/LICENSE").decode()
    (out_dir / "MediaPipe-LICENSE").write_text(
        "The files mediapipe_*.pt are converted from the .tflite model files of the mediapipe "
        f"{WHEEL_VERSION} wheel\n(https://github.com/google-ai-edge/mediapipe), Apache License 2.0, "
        "reproduced below.\nConverted by sk3dmm's tools/convert_mediapipe.py (float16 weights "
        "expanded to float32; no other change).\n\n" + license_text
    )


if __name__ == "__main__":
    main()
