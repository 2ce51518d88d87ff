"""sk3dmm command line: face photos to 3DMM coefficients (reconstruct), the demo photo
(demo), and the paper's experiments (experiments). Run "sk3dmm COMMAND --help" for each."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

TABLE_SUFFIXES = (".csv", ".parquet")


class UsageError(ValueError):
    """A command-line argument that cannot work, found before any work is done."""


def _check_output_table(path: Path) -> None:
    """Fail before the work, not after it: the table's type, folder and writer must exist."""
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise UsageError(f"cannot write {path}: the output must end in .csv or .parquet")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.suffix.lower() == ".parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None and importlib.util.find_spec("fastparquet") is None:
            raise UsageError(f"cannot write {path}: Parquet needs pyarrow (pip install pyarrow); or use .csv")


def _write_table(frame, path: Path) -> None:
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, float_format="%.6g")


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

    out = Path(args.output)
    _check_output_table(out)
    paths = [Path(p) for p in args.photos]
    est = Reconstruct3DMM(
        method=args.method,
        weights=args.weights,
        template=args.template,
        model=args.model,
        coef=tuple(args.coef),
        detector=args.detector,
        on_error="raise" if args.on_error == "raise" else "nan",  # reasons are printed once, below
        n_jobs=args.n_jobs,
        cache=args.cache,
        progress=not args.quiet,
    ).fit()
    frame = est.to_frame([str(p) for p in paths])
    frame.insert(0, "path", [str(p) for p in paths])
    _write_table(frame, out)
    failed = int((frame["reason"] != "").sum())
    print(f"wrote {out}: {len(frame) - failed} of {len(frame)} photos reconstructed")
    if args.on_error == "warn":
        for _, row in est.failures_.iterrows():
            print(f"  failed: {row['sample']}: {row['reason']}", file=sys.stderr)
    if args.overlay_dir:
        written = _save_overlays(
            paths, est.reconstructions_, est.model_, Path(args.overlay_dir), [p.stem for p in paths]
        )
        print(f"wrote {len(written)} overlay PNGs to {args.overlay_dir}")
    if failed and args.strict:
        print(f"sk3dmm: {failed} photos failed (--strict); their reasons are in {out}", file=sys.stderr)
        return 1
    return 0 if failed < len(frame) or not len(frame) else 1


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

    if args.fei and not args.fei_gender:
        raise UsageError(
            "--fei needs --fei-gender CSV (columns person,gender): FEI file names carry no gender"
        )

    angles = tuple(args.angles)
    if args.quick:  # a smoke run: few people, two folds, few epochs, no paper ResNet
        args.n_identities, args.folds, args.epochs = min(args.n_identities, 10), 2, 3
    settings = dict(
        n_splits=args.folds,
        epochs=args.epochs,
        image_size=args.image_size,
        image_width=args.image_width,
        seed=args.seed,
        paper_resnet=args.paper_resnet and not args.quick,
    )
    if args.kdef or args.fei:
        if args.kdef:
            data = kdef_faceset(
                args.kdef, angles, n_jobs=args.n_jobs, method=args.method, detector=args.detector
            )
            run_experiments(
                data,
                tasks=[t for t in TASKS if t.name != "gender"] + [t for t in TASKS if t.name == "gender"],
                out_dir=Path(args.out) / "kdef",
                **settings,
            )
        if args.fei:
            data = fei_faceset(
                args.fei, args.fei_gender, n_jobs=args.n_jobs, method=args.method, detector=args.detector
            )
            run_experiments(
                data,
                tasks=[t for t in TASKS if t.name != "expression"],
                out_dir=Path(args.out) / "fei",
                **settings,
            )
        return 0
    data = synthetic_faceset(
        args.n_identities,
        args.size,
        angles,
        args.seed,
        progress=True,
        n_jobs=args.n_jobs,
        method=args.method,
        detector=args.detector,
    )
    run_experiments(data, out_dir=args.out, **settings)
    return 0


def _reconstruct_defaults() -> dict:
    """The command line's defaults are the class's: one source, so they cannot drift."""
    from .transformers import Reconstruct3DMM

    return Reconstruct3DMM().get_params()


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="sk3dmm", description=__doc__, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"sk3dmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    defaults = _reconstruct_defaults()
    p = sub.add_parser(
        "reconstruct",
        help="photos to 3DMM coefficients",
        description="Reconstruct face photos and write one row of coefficients per photo; a photo "
        "that fails has empty coefficients and its reason in the 'reason' column.",
        formatter_class=fmt,
    )
    p.add_argument("photos", nargs="+", help="image files")
    p.add_argument("-o", "--output", default="coefficients.csv", help="output table, .csv or .parquet")
    p.add_argument(
        "--coef", nargs="+", default=list(defaults["coef"]), choices=["alpha", "beta", "pose"], help="blocks"
    )
    p.add_argument(
        "--method",
        default=defaults["method"],
        choices=["landmarks", "rnet", "rnet_refined"],
        help="landmark fitting or R-Net",
    )
    p.add_argument(
        "--model", default=None, help="BFM_model_front.mat for the Basel model; none: the embedded ICT model"
    )
    p.add_argument(
        "--weights", default=None, help="R-Net weights for --method rnet, e.g. Deep3DFaceRecon's epoch_20.pth"
    )
    p.add_argument("--template", default=None, help="similarity_Lm3D_all.mat, with Deep3DFaceRecon weights")
    p.add_argument(
        "--detector", default=defaults["detector"], choices=["mediapipe", "hog", "cnn", "face_alignment"]
    )
    p.add_argument(
        "--on-error",
        default=defaults["on_error"],
        choices=["raise", "warn", "nan"],
        help="raise: stop at the first bad photo; warn: go on and list failures; nan: go on quietly",
    )
    p.add_argument("--strict", action="store_true", help="exit with status 1 when any photo failed")
    p.add_argument("--n-jobs", type=int, default=defaults["n_jobs"], help="parallel detection workers")
    p.add_argument("--cache", default=True, help="a folder to keep per-photo results in between runs")
    p.add_argument("--overlay-dir", default=None, help="also write a mesh-over-photo PNG per photo here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or log")
    p.set_defaults(func=reconstruct)

    d = sub.add_parser("demo", help="reconstruct the bundled demo photo (the main job)", formatter_class=fmt)
    d.add_argument("--output-dir", default="out", help="where to write the CSV and PNG")
    d.set_defaults(func=demo, quiet=False)

    e = sub.add_parser(
        "experiments", help="identity / expression / gender from coefficients vs pixels", formatter_class=fmt
    )
    e.add_argument("--kdef", default=None, help="a KDEF folder (default: the synthetic KDEF-like set)")
    e.add_argument("--fei", default=None, help="an FEI folder (needs --fei-gender)")
    e.add_argument("--fei-gender", default=None, help="CSV with columns person,gender for FEI")
    e.add_argument(
        "--method",
        default="rnet",
        choices=["rnet", "rnet_refined", "landmarks"],
        help="how coefficients are obtained",
    )
    e.add_argument(
        "--detector",
        default=_reconstruct_defaults()["detector"],
        choices=["mediapipe", "hog", "cnn"],
        help="face detector and landmarks",
    )
    e.add_argument("--quick", action="store_true", help="a smoke run: 10 people, 2 folds, 3 epochs")
    e.add_argument(
        "--paper-resnet",
        action="store_true",
        help="also train the paper's 1-D ResNet-34 on coefficients (slow: about doubles the run)",
    )
    e.add_argument("--n-identities", type=int, default=20, help="synthetic people")
    e.add_argument("--size", type=int, default=160, help="synthetic image size")
    e.add_argument("--angles", nargs="+", default=["S", "HL", "HR"], help="KDEF angle codes to use")
    e.add_argument("--folds", type=int, default=3, help="cross-validation folds (beside the paper's splits)")
    e.add_argument(
        "--epochs", type=int, default=15, help="epochs of the pixel baseline (and the paper's ResNet)"
    )
    e.add_argument("--image-size", type=int, default=48, help="pixel baseline input size")
    e.add_argument(
        "--image-width",
        type=int,
        default=16,
        help="pixel baseline ResNet-34 first-stage width (torchvision: 64)",
    )
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--n-jobs", type=int, default=None)
    e.add_argument("--out", default="results")
    e.set_defaults(func=experiments, quiet=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; errors are one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except (
        ValueError,
        OSError,
    ) as exc:  # sk3dmm's errors are ValueErrors (ModelFileError, ImageReadError...)
        message = str(exc).replace("Pass on_error='warn' or 'nan'", "Pass --on-error warn or nan")
        print(f"sk3dmm: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sk3dmm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
