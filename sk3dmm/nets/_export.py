"""Export an R-Net for use without sk3dmm: TorchScript or ONNX."""

from __future__ import annotations

from pathlib import Path

import torch

from ._rnet import RNet


def export_rnet(net: RNet, path: str | Path, input_size: int = 224, format: str = "torchscript") -> Path:
    """Write ``net`` (in eval mode) as TorchScript (``.pt``) or ONNX (``.onnx``).

    The exported graph maps a (b, 3, input_size, input_size) RGB tensor in [0, 1] to the
    concatenated coefficients, in ``net.sizes`` order, with a dynamic batch dimension.
    """
    path = Path(path)
    net = net.eval()
    example = torch.zeros(1, 3, input_size, input_size)
    if format == "torchscript":
        with torch.no_grad():
            scripted = torch.jit.trace(net, example)
        scripted.save(str(path))
    elif format == "onnx":
        torch.onnx.export(
            net,
            (example,),
            str(path),
            input_names=["image"],
            output_names=["coefficients"],
            dynamic_axes={"image": {0: "batch"}, "coefficients": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    else:
        raise ValueError(f"format must be 'torchscript' or 'onnx', got {format!r}")
    return path
