"""Train the embedded C-Net for the ICT model (label-free) and write it into the package.

Usage: ``python tools/train_embedded_cnet.py [--n-identities 30] [--seed 7]``
Photos: synthetic people (a seed the benchmarks do not use), 30% occluded or blurred,
reconstructed with the embedded R-Net; sets of 2 to 5 photos of one person; C-Net trained
from scratch with the label-free loss (``CNET_LOSS_WEIGHTS``: skin photometric, landmarks and
held-out consistency), reading quality signals only (``cnet_inputs="quality"``). Writes ``sk3dmm/nets/data/cnet_ict.pt``, its ``.sha256`` and
``cnet_ict_training_log.json``.
"""

import argparse
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from sk3dmm import SetAggregator
from sk3dmm.experiments import synthetic_photo_pool

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-identities", type=int, default=30)
    p.add_argument("--sets-per-person", type=int, default=50)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "sk3dmm" / "nets" / "data"))
    args = p.parse_args()
    torch.set_num_threads(2)
    pool = synthetic_photo_pool(args.n_identities, args.seed)
    rng = np.random.default_rng(args.seed)
    people = pool.faces.frame["identity"].to_numpy()
    sets = []
    for person in dict.fromkeys(people):
        idx = np.flatnonzero((people == person) & pool.ok)
        for _ in range(args.sets_per_person):
            k = int(rng.integers(2, 6))
            sets.append(pool.image_set(rng.choice(idx, k, replace=False)))
    agg = SetAggregator(
        "cnet", cnet_weights="scratch", epochs=args.epochs, random_state=args.seed, progress=True
    ).fit(sets)
    out = Path(args.out)
    agg.save_cnet(out / "cnet_ict.pt")
    sha256 = hashlib.sha256((out / "cnet_ict.pt").read_bytes()).hexdigest()
    (out / "cnet_ict.sha256").write_text(f"{sha256}  cnet_ict.pt\n")
    log = {
        "args": vars(args),
        "photos": int(pool.ok.sum()),
        "sets": len(sets),
        "loss_per_epoch": agg.history_,
    }
    (out / "cnet_ict_training_log.json").write_text(json.dumps(log, indent=2))
    print(f"trained on {len(sets)} sets; loss {agg.history_[0]:.5f} -> {agg.history_[-1]:.5f}")
