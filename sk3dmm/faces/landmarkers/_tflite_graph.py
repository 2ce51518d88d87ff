"""Run a converted TensorFlow Lite graph (MediaPipe's face networks) in torch, batched, CPU or CUDA.

``tools/convert_mediapipe.py`` turns a ``.tflite`` file into a list of operators and float32
constants; :class:`TFLiteGraph` executes that list with torch operations. TensorFlow Lite works
in NHWC with "SAME" padding that may put the extra pixel after the data; here 4-D tensors are
kept in NCHW and each padding is made explicit, so the outputs equal the reference runtime's to
float32 rounding (tested against outputs saved from it).

:class:`NativeLayoutGraph` runs graphs that reduce, transpose and slice named axes (the v2
bundle's blendshape network, an MLP-Mixer) in TensorFlow Lite's own layout instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1, -2: 3, -3: 2}


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding along one axis: (before, after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _activation(x: torch.Tensor, kind: int) -> torch.Tensor:
    if kind == 0:
        return x
    if kind == 1:
        return torch.relu(x)
    if kind == 2:
        return x.clamp(-1.0, 1.0)
    if kind == 3:
        return x.clamp(0.0, 6.0)
    raise ValueError(f"fused activation {kind} is not supported")


class TFLiteGraph(nn.Module):
    """A TensorFlow Lite graph of convolutions, PReLU/ReLU, additions, padding and pooling.

    Parameters
    ----------
    payload : dict
        ``{"graph": {...}, "constants": {tensor id: tensor}}`` as written by
        ``tools/convert_mediapipe.py``.

    The forward pass takes NHWC float input of the file's size (any batch size) and returns the
    graph's outputs in the file's layout, batch first.
    """

    def __init__(self, payload: dict):
        super().__init__()
        graph = payload["graph"]
        self.ops = graph["ops"]
        self.input_ids = list(graph["inputs"])
        self.output_ids = list(graph["outputs"])
        self.shapes = {int(k): list(v) for k, v in graph["shapes"].items()}
        self._const_names: dict[int, str] = {}
        # the operator each weight feeds (its layout is converted once, here)
        role = {
            op["inputs"][1]: op["op"]
            for op in self.ops
            if op["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "PRELU")
        }
        for key, value in payload["constants"].items():
            tid = int(key)
            value = value.float() if value.is_floating_point() else value
            if role.get(tid) == "CONV_2D":
                value = value.permute(0, 3, 1, 2).contiguous()  # OHWI -> OIHW
            elif role.get(tid) == "DEPTHWISE_CONV_2D":
                value = value.permute(3, 0, 1, 2).contiguous()  # 1HWC -> C1HW
            elif role.get(tid) == "PRELU":
                value = value.reshape(-1)  # one slope per channel
            name = f"t{tid}"
            self.register_buffer(name, value, persistent=True)
            self._const_names[tid] = name

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the input the file declares."""
        _, h, w, _ = self.shapes[self.input_ids[0]]
        return h, w

    def _const(self, tid: int) -> torch.Tensor:
        return getattr(self, self._const_names[tid])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        values: dict[int, torch.Tensor] = {self.input_ids[0]: x.permute(0, 3, 1, 2)}
        for op in self.ops:
            run = self._RUNNERS.get(op["op"])
            if run is None:  # pragma: no cover - the converter refuses other operators
                raise ValueError(f"operator {op['op']} is not supported")
            values[op["outputs"][0]] = run(self, op, values)
        outputs = []
        for tid in self.output_ids:
            out = values[tid]
            outputs.append(out.permute(0, 2, 3, 1) if out.dim() == 4 else out)
        return outputs

    def _get(self, values: dict[int, torch.Tensor], tid: int) -> torch.Tensor:
        """A computed tensor, or else a constant."""
        return values[tid] if tid in values else self._const(tid)

    def _run_conv(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        """CONV_2D and DEPTHWISE_CONV_2D with "SAME" padding and a fused activation."""
        ins, opts = op["inputs"], op["options"]
        inp, weight = self._get(values, ins[0]), self._get(values, ins[1])
        bias = self._get(values, ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
        inp, padding = self._pad_same(inp, ins[0], weight.shape[-2:], opts)
        groups = inp.shape[1] if op["op"] == "DEPTHWISE_CONV_2D" else 1
        out = F.conv2d(
            inp,
            weight,
            bias,
            stride=opts["stride"],
            padding=padding,
            dilation=opts["dilation"],
            groups=groups,
        )
        return _activation(out, opts["activation"])

    def _run_relu(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        return torch.relu(self._get(values, op["inputs"][0]))

    def _run_prelu(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        ins = op["inputs"]
        return F.prelu(self._get(values, ins[0]), self._get(values, ins[1]))

    def _run_add(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        ins = op["inputs"]
        return _activation(self._get(values, ins[0]) + self._get(values, ins[1]), op["options"]["activation"])

    def _run_pad(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        ins = op["inputs"]
        pads = self._const(ins[1]).tolist()  # NHWC rows of (before, after)
        (_, _), (hb, ha), (wb, wa), (cb, ca) = pads
        return F.pad(self._get(values, ins[0]), (wb, wa, hb, ha, cb, ca))

    def _run_max_pool(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        ins, opts = op["inputs"], op["options"]
        inp, padding = self._pad_same(
            self._get(values, ins[0]), ins[0], opts["kernel"], opts, value=-math.inf
        )
        if padding != (0, 0):  # max_pool2d pads with -inf itself
            out = F.max_pool2d(inp, opts["kernel"], opts["stride"], padding=padding)
        else:
            out = F.max_pool2d(inp, opts["kernel"], opts["stride"])
        return _activation(out, opts["activation"])

    def _run_reshape(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        """RESHAPE in TensorFlow Lite's NHWC order, 4-D results back in NCHW."""
        inp = self._get(values, op["inputs"][0])
        if inp.dim() == 4:
            inp = inp.permute(0, 2, 3, 1)
        out = inp.reshape(inp.shape[0], *self.shapes[op["outputs"][0]][1:])
        if out.dim() == 4:
            out = out.permute(0, 3, 1, 2)
        return out

    def _run_concatenation(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        parts = [self._get(values, t) for t in op["inputs"]]
        axis = op["options"]["axis"]
        if parts[0].dim() == 4:
            axis = _NHWC_TO_NCHW_AXIS[axis]
        return _activation(torch.cat(parts, dim=axis), op["options"]["activation"])

    def _run_logistic(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        return torch.sigmoid(self._get(values, op["inputs"][0]))

    _RUNNERS = {
        "CONV_2D": _run_conv,
        "DEPTHWISE_CONV_2D": _run_conv,
        "RELU": _run_relu,
        "PRELU": _run_prelu,
        "ADD": _run_add,
        "PAD": _run_pad,
        "MAX_POOL_2D": _run_max_pool,
        "RESHAPE": _run_reshape,
        "CONCATENATION": _run_concatenation,
        "LOGISTIC": _run_logistic,
    }

    def _pad_same(
        self, inp: torch.Tensor, tid: int, kernel, opts: dict, value: float = 0.0
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """TensorFlow's "SAME" padding: symmetric padding is returned for the layer to apply
        (cheaper), an uneven one is applied here."""
        if opts["padding"] != "same":
            return inp, (0, 0)
        _, h, w, _ = self.shapes[tid]
        dil = opts.get("dilation", (1, 1))
        ph = _same_padding(h, int(kernel[0]), opts["stride"][0], dil[0])
        pw = _same_padding(w, int(kernel[1]), opts["stride"][1], dil[1])
        if ph[0] == ph[1] and pw[0] == pw[1]:
            return inp, (ph[0], pw[0])
        return F.pad(inp, (pw[0], pw[1], ph[0], ph[1]), value=value), (0, 0)


def _binary(fn):
    def run(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        a, b = (self._get(values, t) for t in op["inputs"])
        return _activation(fn(a, b), op["options"].get("activation", 0))

    return run


def _unary(fn):
    def run(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        return fn(self._get(values, op["inputs"][0]))

    return run


def _reducer(fn):
    def run(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        inp = self._get(values, op["inputs"][0])
        axes = [int(a) % inp.dim() for a in self._const(op["inputs"][1]).reshape(-1).tolist()]
        if 0 in axes:
            raise ValueError("a reduction over the batch axis is not supported")
        return fn(inp, dim=axes, keepdim=op["options"]["keep_dims"])

    return run


class NativeLayoutGraph(TFLiteGraph):
    """A TensorFlow Lite graph run in the file's own layout (NHWC, or whatever rank it uses).

    For graphs built from reductions, transposes, slices and 1 x 1 convolutions (MediaPipe's
    blendshape network): only the convolutions change layout, and back. The batch axis (the
    first) is never reduced, transposed or sliced; constants with a batch of one are
    broadcast to the input's batch.
    """

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        values: dict[int, torch.Tensor] = {self.input_ids[0]: x}
        for op in self.ops:
            run = self._RUNNERS.get(op["op"])
            if run is None:  # pragma: no cover - the converter refuses other operators
                raise ValueError(f"operator {op['op']} is not supported")
            values[op["outputs"][0]] = run(self, op, values)
        return [values[tid] for tid in self.output_ids]

    def _run_conv(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        nchw = self._get(values, op["inputs"][0]).permute(0, 3, 1, 2)
        out = TFLiteGraph._run_conv(self, op, {**values, op["inputs"][0]: nchw})
        return out.permute(0, 2, 3, 1)

    def _run_reshape(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        inp = self._get(values, op["inputs"][0])
        return inp.reshape(inp.shape[0], *self.shapes[op["outputs"][0]][1:])

    def _run_concatenation(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        parts = [self._get(values, t) for t in op["inputs"]]
        batch = max(p.shape[0] for p in parts)
        parts = [p.expand(batch, *p.shape[1:]) for p in parts]
        return _activation(torch.cat(parts, dim=op["options"]["axis"]), op["options"]["activation"])

    def _run_transpose(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        perm = [int(a) for a in self._const(op["inputs"][1]).tolist()]
        if perm[0] != 0:
            raise ValueError("a transpose of the batch axis is not supported")
        return self._get(values, op["inputs"][0]).permute(*perm)

    def _run_strided_slice(self, op: dict, values: dict[int, torch.Tensor]) -> torch.Tensor:
        """STRIDED_SLICE with begin / end masks and shrunk axes (the batch axis is kept whole)."""
        inp = self._get(values, op["inputs"][0])
        begin, end, strides = (self._const(t).tolist() for t in op["inputs"][1:4])
        opts = op["options"]
        if opts["ellipsis_mask"] or opts["new_axis_mask"]:
            raise ValueError("STRIDED_SLICE with ellipsis or new axes is not supported")
        index: list = [slice(None)]
        for axis in range(1, inp.dim()):
            bit = 1 << axis
            if opts["shrink_axis_mask"] & bit:
                index.append(int(begin[axis]))
                continue
            start = None if opts["begin_mask"] & bit else int(begin[axis])
            stop = None if opts["end_mask"] & bit else int(end[axis])
            index.append(slice(start, stop, int(strides[axis])))
        return inp[tuple(index)]

    _RUNNERS = {
        **TFLiteGraph._RUNNERS,
        "CONV_2D": _run_conv,
        "RESHAPE": _run_reshape,
        "CONCATENATION": _run_concatenation,
        "TRANSPOSE": _run_transpose,
        "STRIDED_SLICE": _run_strided_slice,
        "MUL": _binary(torch.mul),
        "SUB": _binary(torch.sub),
        "DIV": _binary(torch.div),
        "SQUARED_DIFFERENCE": _binary(lambda a, b: (a - b) * (a - b)),
        "SQRT": _unary(torch.sqrt),
        "RSQRT": _unary(torch.rsqrt),
        "NEG": _unary(torch.neg),
        "MEAN": _reducer(torch.mean),
        "SUM": _reducer(torch.sum),
    }
