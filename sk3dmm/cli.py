"""Command line: ``sk3dmm reconstruct PHOTOS... -o coefficients.csv`` and ``sk3dmm demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _write_table(frame, path: Path) -> None:
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path)
    elif path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False, float_format="%.6g")
    else:
        raise SystemExit(f"sk3dmm: cannot write {path}: use a .csv or .parquet file name")


def _save_overlays(images, recons, model, out_dir: Path, names) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .faces import load_image
    from .plotting import plot_reconstruction

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for item, rec, name in zip(images, recons, names):
        if rec is None:
            continue
        fig = plot_reconstruction(load_image(item), rec, model)
        path = out_dir / f"{name}_overlay.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def reconstruct(args: argparse.Namespace) -> int:
    """Reconstruct photos and write their coefficients (and overlays)."""
    from .transformers import Reconstruct3DMM

    paths = [Path(p) for p in args.photos]
    est = Reconstruct3DMM(
        method=args.method,
        coef=tuple(args.coef),
        detector=args.detector,
        on_error=args.on_error,
        n_jobs=args.n_jobs,
        progress=not args.quiet,
        model=args.model,
    )
    frame = est.fit().to_frame([str(p) for p in paths])
    frame.insert(0, "path", [str(p) for p in paths])
    out = Path(args.output)
    _write_table(frame, out)
    ok = frame["reprojection_error_px"].notna()
    print(f"wrote {out}: {int(ok.sum())} of {len(frame)} photos reconstructed")
    for _, row in est.failures_.iterrows():
        print(f"  failed: {row['sample']}: {row['reason']}", file=sys.stderr)
    if args.overlay_dir:
        written = _save_overlays(
            paths, est.reconstructions_, est.model_, Path(args.overlay_dir), [p.stem for p in paths]
        )
        print(f"wrote {len(written)} overlay PNGs to {args.overlay_dir}")
    return 0 if ok.any() or not len(frame) else 1


def demo(args: argparse.Namespace) -> int:
    """The main job on the embedded default: reconstruct the bundled demo photo."""
    from skimage.data import astronaut

    from .transformers import Reconstruct3DMM

    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = out_dir / "astronaut.png"
    from PIL import Image

    Image.fromarray(astronaut()).save(photo)
    est = Reconstruct3DMM(coef=("alpha", "beta", "pose"), progress=True).fit()
    frame = est.to_frame([str(photo)])
    frame.insert(0, "path", [str(photo)])
    _write_table(frame, out_dir / "coefficients.csv")
    _save_overlays([photo], est.reconstructions_, est.model_, out_dir, ["astronaut"])
    rec = est.reconstructions_[0]
    beta = dict(zip(est.model_.expression_names, rec.coefficients["beta"]))
    top = sorted(beta.items(), key=lambda kv: -kv[1])[:3]
    yaw, pitch, roll = rec.coefficients["pose"][:3]
    print(
        f"astronaut: reprojection error {rec.reprojection_error:.2f} px, yaw {yaw:.1f} pitch {pitch:.1f} roll {roll:.1f} deg"
    )
    print("  strongest expressions: " + ", ".join(f"{k} {v:.2f}" for k, v in top))
    print(
        f"  |alpha| = {np.linalg.norm(rec.coefficients['alpha']):.2f} over {est.model_.n_identity} identity modes"
    )
    print(f"wrote {out_dir / 'coefficients.csv'} and {out_dir / 'astronaut_overlay.png'}")
    return 0


def experiments(args: argparse.Namespace) -> int:
    """The paper's three experiments on the synthetic set, or on KDEF / FEI folders."""
    from .experiments import TASKS, fei_faceset, kdef_faceset, run_experiments, synthetic_faceset

    angles = tuple(args.angles)
    settings = dict(
        n_splits=args.folds,
        epochs=args.epochs,
        image_size=args.image_size,
        image_width=args.image_width,
        seed=args.seed,
    )
    if args.kdef or args.fei:
        if args.kdef:
            data = kdef_faceset(args.kdef, angles, n_jobs=args.n_jobs, method=args.method)
            run_experiments(
                data,
                tasks=[t for t in TASKS if t.name != "gender"] + [t for t in TASKS if t.name == "gender"],
                out_dir=Path(args.out) / "kdef",
                **settings,
            )
        if args.fei:
            if not args.fei_gender:
                raise SystemExit(
                    "sk3dmm: --fei needs --fei-gender CSV (columns person,gender): FEI file names carry no gender"
                )
            data = fei_faceset(args.fei, args.fei_gender, n_jobs=args.n_jobs, method=args.method)
            run_experiments(
                data,
                tasks=[t for t in TASKS if t.name != "expression"],
                out_dir=Path(args.out) / "fei",
                **settings,
            )
        return 0
    data = synthetic_faceset(
        args.n_identities, args.size, angles, args.seed, progress=True, n_jobs=args.n_jobs
    )
    run_experiments(data, out_dir=args.out, **settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sk3dmm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("reconstruct", help="photos to 3DMM coefficients")
    p.add_argument("photos", nargs="+", help="image files")
    p.add_argument("-o", "--output", default="coefficients.csv", help=".csv or .parquet")
    p.add_argument("--coef", nargs="+", default=["alpha", "beta", "pose"], choices=["alpha", "beta", "pose"])
    p.add_argument(
        "--model", default=None, help="BFM_model_front.mat for the Basel model (default: embedded ICT)"
    )
    p.add_argument(
        "--method", default="rnet", choices=["rnet", "landmarks"], help="R-Net regression or landmark fitting"
    )
    p.add_argument("--detector", default="hog", choices=["hog", "cnn"])
    p.add_argument("--on-error", default="warn", choices=["raise", "warn", "nan"])
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--overlay-dir", default=None, help="also write a mesh-over-photo PNG per photo here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=reconstruct)

    d = sub.add_parser("demo", help="reconstruct the bundled demo photo (the main job)")
    d.add_argument("--output-dir", default="out", help="where to write the CSV and PNG")
    d.set_defaults(func=demo)

    e = sub.add_parser("experiments", help="identity / expression / gender from coefficients vs pixels")
    e.add_argument("--kdef", default=None, help="a KDEF folder (default: the synthetic KDEF-like set)")
    e.add_argument("--fei", default=None, help="an FEI folder (needs --fei-gender)")
    e.add_argument("--fei-gender", default=None, help="CSV with columns person,gender for FEI")
    e.add_argument(
        "--method", default="rnet", choices=["rnet", "landmarks"], help="how coefficients are obtained"
    )
    e.add_argument("--n-identities", type=int, default=20, help="synthetic people")
    e.add_argument("--size", type=int, default=160, help="synthetic image size")
    e.add_argument("--angles", nargs="+", default=["S", "HL", "HR"], help="KDEF angle codes to use")
    e.add_argument("--folds", type=int, default=5)
    e.add_argument("--epochs", type=int, default=30)
    e.add_argument("--image-size", type=int, default=64, help="pixel baseline input size")
    e.add_argument(
        "--image-width",
        type=int,
        default=16,
        help="pixel baseline ResNet-34 first-stage width (torchvision: 64)",
    )
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--n-jobs", type=int, default=None)
    e.add_argument("--out", default="results")
    e.set_defaults(func=experiments)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
