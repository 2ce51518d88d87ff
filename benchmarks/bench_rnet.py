"""R-Net versus landmark fitting on held-out synthetic renders, and R-Net throughput.

Run: ``python benchmarks/bench_rnet.py [--n-identities 20] [--throughput-only | --accuracy-only]``

Accuracy: a synthetic KDEF-like set rendered with a seed the embedded R-Net never saw; both
methods reconstruct the same photos (dlib detection + 68 landmarks; R-Net then reads the
5-point aligned crop). Reported per angle: RMS error of alpha and beta, mean absolute pose
error, and shape RMSE in mm over the face area after similarity alignment (identity shape
and full shape with expression).

Throughput: images per second of each backbone at batch 32 on 2 CPU threads (CUDA at batch
256, bf16, channels_last when a GPU is present), with FLOPs per image counted by torch.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _report import write_report
from torch.utils.flop_counter import FlopCounterMode

from sk3dmm import Reconstruct3DMM, load_ict_model
from sk3dmm.datasets import make_synthetic_faces
from sk3dmm.metrics import shape_rmse_mm
from sk3dmm.nets import ICT_SIZES, RNet


def accuracy(n_identities: int, seed: int, out: Path, weights: str | None = None) -> pd.DataFrame:
    model = load_ict_model()
    faces = make_synthetic_faces(
        n_identities, image_size=224, angles=("HL", "S", "HR"), random_state=seed, progress=True
    )
    rows = []
    results = {}
    for method in ("landmarks", "rnet"):
        est = Reconstruct3DMM(
            method=method,
            coef=("alpha", "beta", "pose"),
            on_error="nan",
            progress=True,
            detector="hog",
            weights=weights if method == "rnet" else None,
        )
        t0 = time.perf_counter()
        results[method] = est.fit_transform(faces.images)
        results[method + "_s"] = time.perf_counter() - t0
    ok = np.isfinite(results["landmarks"]).all(1) & np.isfinite(results["rnet"]).all(1)
    zeros = np.zeros((ok.sum(), model.n_expression))
    frame = faces.frame[ok].reset_index(drop=True)
    for method in ("landmarks", "rnet", "mean face"):
        if method == "mean face":
            a_hat, b_hat, pose = np.zeros((ok.sum(), 100)), zeros, np.full((ok.sum(), 6), np.nan)
        else:
            X = results[method][ok]
            a_hat, b_hat, pose = X[:, :100], X[:, 100:153], X[:, 153:]
        f = frame.assign(
            method=method,
            alpha_rms=np.sqrt(((a_hat - faces.alpha[ok]) ** 2).mean(1)),
            beta_rms=np.sqrt(((b_hat - faces.beta[ok]) ** 2).mean(1)),
            yaw_err=np.abs(pose[:, 0] - faces.pose[ok, 0]),
            pitch_err=np.abs(pose[:, 1] - faces.pose[ok, 1]),
            identity_mm=shape_rmse_mm(model, a_hat, zeros, faces.alpha[ok], zeros),
            full_mm=shape_rmse_mm(model, a_hat, b_hat, faces.alpha[ok], faces.beta[ok]),
        )
        rows.append(f)
    table = (
        pd.concat(rows)
        .groupby(["angle", "method"])[
            ["alpha_rms", "beta_rms", "yaw_err", "pitch_err", "identity_mm", "full_mm"]
        ]
        .mean()
        .round(3)
    )
    head = (
        f"{int(ok.sum())} of {len(ok)} held-out renders (224 px, {n_identities} people, seed {seed}) detected by dlib; "
        f"landmarks {results['landmarks_s'] / len(ok) * 1e3:.0f} ms/image, rnet {results['rnet_s'] / len(ok) * 1e3:.0f} ms/image end to end"
    )
    write_report(out, "rnet_accuracy", f"# R-Net vs landmark fitting\n\n{head}\n\n{table.to_markdown()}\n")
    table.to_csv(out / "rnet_accuracy.csv")
    return table


def throughput(out: Path) -> pd.DataFrame:
    rows = []
    configs = [
        ("resnet18", 32, 112, "embedded"),
        ("mobilenet_v2", 32, 112, ""),
        ("resnet18", 64, 224, ""),
        ("resnet34", 64, 224, ""),
        ("resnet50", 64, 224, "Deep3DFaceRecon"),
    ]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for backbone, width, size, note in configs:
        net = RNet(ICT_SIZES, backbone=backbone, width=width).eval()
        with FlopCounterMode(display=False) as fc:
            with torch.no_grad():
                net(torch.zeros(1, 3, size, size))
        gflops = fc.get_total_flops() / 1e9
        for device in devices:
            batch = 32 if device == "cpu" else 256
            x = torch.rand(batch, 3, size, size, device=device)
            m = net.to(device)
            if device == "cuda":
                m = m.to(memory_format=torch.channels_last)
                x = x.to(memory_format=torch.channels_last)
            ctx = torch.autocast(device, torch.bfloat16, enabled=device == "cuda")
            with torch.no_grad(), ctx:
                m(x)
                if device == "cuda":
                    torch.cuda.synchronize()
                reps = 3 if device == "cpu" else 20
                t0 = time.perf_counter()
                for _ in range(reps):
                    m(x)
                if device == "cuda":
                    torch.cuda.synchronize()
            ips = batch * reps / (time.perf_counter() - t0)
            rows.append(
                {
                    "backbone": backbone,
                    "width": width,
                    "input": size,
                    "note": note,
                    "device": device,
                    "batch": batch,
                    "GFLOPs/image": round(gflops, 3),
                    "images/s": round(ips, 1),
                    "ms/image": round(1000 / ips, 2),
                }
            )
    table = pd.DataFrame(rows)
    head = f"{platform.machine()}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}" + (
        f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    )
    write_report(
        out, "rnet_throughput", f"# R-Net throughput\n\n{head}\n\n{table.to_markdown(index=False)}\n", rows
    )
    return table


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-identities", type=int, default=20)
    p.add_argument("--seed", type=int, default=101)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--throughput-only", action="store_true")
    p.add_argument("--accuracy-only", action="store_true")
    p.add_argument("--weights", help="an sk3dmm R-Net checkpoint instead of the embedded one")
    p.add_argument("--out", default="results")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.throughput_only:
        accuracy(args.n_identities, args.seed, out, args.weights)
    if not args.accuracy_only:
        throughput(out)
