"""Train the embedded R-Net for the ICT model and write it into the package.

Usage: ``python tools/train_embedded_rnet.py [--n-train 40000] [--epochs 10] [--seed 0]``
Reproducible from the seed (renders, initialisation, order, augmentation). Writes
``sk3dmm/nets/data/rnet_ict.pt``, its ``.sha256`` and ``rnet_ict_training_log.json``.
"""

import argparse
from pathlib import Path

import torch

from sk3dmm.nets._rnet_training import TrainConfig, train_rnet

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cfg = TrainConfig()
    for name, value in vars(cfg).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "sk3dmm" / "nets" / "data"))
    args = vars(p.parse_args())
    torch.set_num_threads(args.pop("threads"))
    out = args.pop("out")
    train_rnet(TrainConfig(**args), out)
