"""sk3dmm command line: face photos to 3DMM coefficients (reconstruct), fitted meshes (mesh),
detected points (points), contact sheets of overlays (overlay), the demo photo (demo) and the
paper's experiments (experiments). Run "sk3dmm COMMAND --help" for each."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np

from .faces.landmarkers import LANDMARKERS
from .regressors import METHODS

TABLE_SUFFIXES = (".csv", ".parquet")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SHEET_SUFFIXES = (".jpg", ".jpeg", ".png", ".pdf", ".svg", ".tif", ".tiff", ".webp")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

EXIT_STATUS = """\
exit status:
  0    every photo worked
  1    some photo failed (unreadable, no face): the output is still written
       with every good photo; each failed photo is named on stderr, one line
       each, and in tables has its row with the reason in column 'reason'
  2    usage error, or a problem found before any photo was processed (bad
       argument, missing input or model file, output that cannot be
       written): nothing is written
  130  interrupted"""

PHOTOS_HELP = (
    "image files and folders; a folder gives its image files (by extension: "
    + ", ".join(s[1:] for s in IMAGE_SUFFIXES)
    + ", any case; hidden files skipped), sorted by path"
)


class UsageError(ValueError):
    """A command-line argument that cannot work, found before any work is done."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help; descriptions and epilogs wrapped by paragraph, and paragraphs with
    an indented line (examples, tables) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.split("\n\n"):
            if any(line.startswith("  ") for line in para.splitlines()):
                paragraphs.append(textwrap.indent(para, indent))
            else:
                paragraphs.append(
                    textwrap.fill(
                        " ".join(para.split()), width, initial_indent=indent, subsequent_indent=indent
                    )
                )
        return "\n\n".join(paragraphs)


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    """A folder's image files (its subfolders' with ``recursive``), hidden ones skipped, sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
        found += [
            Path(root) / f
            for f in files
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES
        ]
    return sorted(found)


def collect_photos(inputs: list[str], recursive: bool = False) -> list[Path]:
    """The photos named on the command line, in order: files as given (whatever their
    extension: a file that is no image gets its failure row), folders walked for image files.

    Raises
    ------
    UsageError
        For a path that does not exist or a folder without image files.
    """
    photos: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = _image_files(path, recursive)
            if not found:
                has_subfolders = any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())
                hint = "; pass --recursive to walk its subfolders" if has_subfolders and not recursive else ""
                raise UsageError(f"no image files in folder {path}{hint}")
            photos += found
        elif path.exists():
            photos.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder")
    return photos


def _check_output(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    if path.suffix.lower() not in suffixes:
        allowed = ", ".join(suffixes[:-1]) + " or " + suffixes[-1]
        raise UsageError(f"cannot write {path}: {what} must end in {allowed}")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")


def _check_output_table(path: Path) -> None:
    """Fail before the work, not after it: the table's type, folder and writer must exist."""
    _check_output(path, TABLE_SUFFIXES, "the output")
    if path.suffix.lower() == ".parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None and importlib.util.find_spec("fastparquet") is None:
            raise UsageError(f"cannot write {path}: Parquet needs pyarrow (pip install pyarrow); or use .csv")


def _write_table(frame, path: Path) -> None:
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, float_format="%.6g")


def _progress(args: argparse.Namespace) -> bool:
    """A progress bar only for a person watching: on a terminal and not ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _print_failures(names, reasons) -> None:
    """One line per failed photo on stderr (after any progress bar is closed)."""
    for name, reason in zip(names, reasons):
        if reason:
            print(f"sk3dmm: failed: {name}: {reason}", file=sys.stderr)


def _estimator(args: argparse.Namespace, coef=("alpha", "beta"), on_error: str = "nan"):
    """The Reconstruct3DMM the command line's options describe (bad photos become NaN rows)."""
    from .transformers import Reconstruct3DMM

    return Reconstruct3DMM(
        method=args.method,
        weights=args.weights,
        template=args.template,
        model=args.model,
        coef=tuple(coef),
        detector=args.detector,
        on_error=on_error,
        n_jobs=args.n_jobs,
        cache=args.cache,
        progress=_progress(args),
    ).fit()


def _reasons(est, n: int) -> list[str]:
    """The reason of each of the last ``n`` reconstructed samples ('' for success)."""
    reasons = dict(zip(est.failures_["index"], est.failures_["reason"]))
    return [reasons.get(i, "") for i in range(n)]


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
    out = Path(args.output)
    _check_output_table(out)
    paths = collect_photos(args.photos, args.recursive)
    est = _estimator(args, args.coef, on_error="raise" if args.on_error == "raise" else "nan")
    frame = est.to_frame([str(p) for p in paths])
    frame.insert(0, "path", [str(p) for p in paths])
    _write_table(frame, out)
    failed = int((frame["reason"] != "").sum())
    if args.on_error == "warn":
        _print_failures(frame["path"], frame["reason"])
    print(f"wrote {out}: {len(frame) - failed} of {len(frame)} photos reconstructed")
    if args.overlay_dir:
        written = _save_overlays(
            paths, est.reconstructions_, est.model_, Path(args.overlay_dir), [p.stem for p in paths]
        )
        print(f"wrote {len(written)} overlay PNGs to {args.overlay_dir}")
    return EXIT_FAILED if failed else EXIT_OK


def mesh(args: argparse.Namespace) -> int:
    """Reconstruct one photo and write its fitted mesh as OBJ or PLY."""
    from . import __version__
    from .export import MESH_SUFFIXES, fitted_mesh, write_mesh

    out = Path(args.out)
    _check_output(out, MESH_SUFFIXES, "the mesh file")
    photo = Path(args.photo)
    if not photo.is_file():
        raise UsageError(f"{photo}: no such file")
    est = _estimator(args)
    if args.region is not None and args.region not in est.model_.regions:
        raise UsageError(
            f"--region {args.region}: {est.model_.name} has regions {sorted(est.model_.regions)}"
        )
    rec = est.reconstruct([str(photo)], crops=False)[0]
    if rec is None:
        _print_failures([photo], _reasons(est, 1))
        return EXIT_FAILED
    m = fitted_mesh(rec, est.model_, args.region)
    units = "model space, mm" if args.frame == "model" else "photo frame: x, y pixels, z camera depth in mm"
    write_mesh(
        out, m.vertices(args.frame), m.triangles, comment=f"sk3dmm {__version__}: {photo.name}, {units}"
    )
    print(f"wrote {out}: {len(m.triangles)} triangles, {len(m.model_vertices)} vertices ({units})")
    return EXIT_OK


def points(args: argparse.Namespace) -> int:
    """Reconstruct each photo and write the points its fit used, one row per photo and point."""
    from .export import points_table

    out = Path(args.out)
    _check_output_table(out)
    paths = collect_photos(args.photos, args.recursive)
    est = _estimator(args)
    recons = est.reconstruct([str(p) for p in paths], crops=False)
    reasons = _reasons(est, len(paths))
    frame = points_table(recons, [str(p) for p in paths], reasons).rename(columns={"photo": "path"})
    _write_table(frame, out)
    _print_failures(paths, reasons)
    failed = sum(bool(r) for r in reasons)
    print(
        f"wrote {out}: {len(frame) - failed} points of {len(paths) - failed} of {len(paths)} photos (failed: {failed})"
    )
    return EXIT_FAILED if failed else EXIT_OK


def overlay(args: argparse.Namespace) -> int:
    """Reconstruct photos and draw a contact sheet of their meshes, failures marked in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image
    from tqdm.auto import tqdm

    from .exceptions import ImageReadError
    from .faces import load_image
    from .plotting import overlay_thumbnail, plot_contact_sheet

    sheet = Path(args.sheet)
    _check_output(sheet, SHEET_SUFFIXES, "the sheet")
    paths = collect_photos(args.photos, args.recursive)
    est = _estimator(args)
    recons = est.reconstruct([str(p) for p in paths], crops=False)
    reasons = _reasons(est, len(paths))
    size = args.thumb_size
    thumbs, titles = [], []
    for path, rec, reason in tqdm(
        list(zip(paths, recons, reasons)), desc="overlay", unit="img", disable=not _progress(args)
    ):
        try:
            image = load_image(path, str(path))
        except ImageReadError:
            image = None
        if rec is not None:
            thumbs.append(overlay_thumbnail(image, rec, est.model_, size=size))
            titles.append(f"{_short(path.name)}\n{rec.reprojection_error:.1f} px")
            continue
        if image is None:
            thumb = np.full((size, size, 3), 200, np.uint8)
        else:
            small = Image.fromarray(image)
            small.thumbnail((size, size))
            thumb = np.asarray(small)
        thumbs.append(thumb)
        titles.append(_short(path.name) + "\n" + "\n".join(textwrap.wrap(reason, 40)[:2]))
    ncols = max(1, min(args.ncols, len(paths)))
    fig = plot_contact_sheet(thumbs, titles, ncols=ncols, size=2.0, failed=[bool(r) for r in reasons])
    fig.savefig(sheet, dpi=size / 2.0, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    _print_failures(paths, reasons)
    failed = sum(bool(r) for r in reasons)
    print(f"wrote {sheet}: {len(paths) - failed} of {len(paths)} photos reconstructed, {failed} failed (red)")
    return EXIT_FAILED if failed else EXIT_OK


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


def demo(args: argparse.Namespace) -> int:
    """The main job on the embedded default: reconstruct the bundled demo photo."""
    from skimage.data import astronaut

    from .transformers import Reconstruct3DMM

    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = out_dir / "astronaut.png"
    from PIL import Image

    Image.fromarray(astronaut()).save(photo)
    est = Reconstruct3DMM(coef=("alpha", "beta", "pose"), progress=_progress(args)).fit()
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
        progress=_progress(args),
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


def _add_photo_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", nargs="+", metavar="PHOTO_OR_DIR", help=PHOTOS_HELP)
    p.add_argument("-r", "--recursive", action="store_true", help="also walk the folders' subfolders")


def _add_fit_options(p: argparse.ArgumentParser, defaults: dict) -> None:
    """The reconstruction options shared by reconstruct, mesh, points and overlay."""
    p.add_argument(
        "--method",
        default=defaults["method"],
        choices=sorted(METHODS),
        help="landmark fitting or R-Net (the registered methods)",
    )
    p.add_argument(
        "--model", default=None, help="BFM_model_front.mat for the Basel model; none: the embedded ICT model"
    )
    p.add_argument(
        "--weights", default=None, help="R-Net weights for --method rnet, e.g. Deep3DFaceRecon's epoch_20.pth"
    )
    p.add_argument("--template", default=None, help="similarity_Lm3D_all.mat, with Deep3DFaceRecon weights")
    p.add_argument(
        "--detector",
        default=defaults["detector"],
        choices=sorted(LANDMARKERS),
        help="the registered landmarkers",
    )
    p.add_argument("--n-jobs", type=int, default=defaults["n_jobs"], help="parallel detection workers")
    p.add_argument("--cache", default=True, help="a folder to keep per-photo results in between runs")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar or log (the bar shows only on a terminal)"
    )


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    fmt = _Formatter
    parser = argparse.ArgumentParser(
        prog="sk3dmm", description=__doc__, formatter_class=fmt, epilog=EXIT_STATUS
    )
    parser.add_argument("--version", action="version", version=f"sk3dmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    defaults = _reconstruct_defaults()
    p = sub.add_parser(
        "reconstruct",
        help="photos to 3DMM coefficients",
        description="Reconstruct face photos and write one row of coefficients per photo, in the "
        "order given (a folder's photos sorted by path). One bad photo never loses the good ones: "
        "a photo that fails (unreadable, no face) has empty coefficients and its reason in the "
        "'reason' column (empty for success), is named on stderr, and makes the exit status 1; "
        "the table is written all the same.\n\n"
        "  sk3dmm reconstruct photos/ -r -o coefficients.csv",
        formatter_class=fmt,
        epilog=EXIT_STATUS,
    )
    _add_photo_inputs(p)
    p.add_argument("-o", "--output", default="coefficients.csv", help="output table, .csv or .parquet")
    p.add_argument(
        "--coef", nargs="+", default=list(defaults["coef"]), choices=["alpha", "beta", "pose"], help="blocks"
    )
    _add_fit_options(p, defaults)
    p.add_argument(
        "--on-error",
        default="warn",
        choices=["raise", "warn", "nan"],
        help="warn: go on and name each failed photo on stderr; nan: go on quietly (reasons only in "
        "the table); raise: stop at the first bad photo (exit status 1, no table). Any failure "
        "makes the exit status 1",
    )
    # --strict: exit 1 when any photo failed, now the default; kept so that scripts still run
    p.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--overlay-dir", default=None, help="also write a mesh-over-photo PNG per photo here")
    p.set_defaults(func=reconstruct)

    m = sub.add_parser(
        "mesh",
        help="one photo to its fitted mesh (.obj or .ply)",
        description="Reconstruct one photo and write its fitted mesh; the file type follows the "
        "extension: .obj (text, faces 1-based) or .ply (binary little-endian, float32 vertices).\n\n"
        "--frame model: the model's space in millimetres (+y up, the face looking along +z), "
        "without the pose. --frame photo: x, y in the photo's pixels (y down) and z the camera "
        "depth in millimetres: the mesh where it lies on the photo.\n\n"
        "  sk3dmm mesh face.jpg --out face.obj --region face",
        formatter_class=fmt,
        epilog=EXIT_STATUS,
    )
    m.add_argument("photo", help="an image file")
    m.add_argument("-o", "--out", default="face.obj", help="mesh file, .obj or .ply")
    m.add_argument("--frame", default="model", choices=["model", "photo"], help="the vertices' frame")
    m.add_argument(
        "--region", default=None, help="keep one region of the model (e.g. face); none: the whole mesh"
    )
    _add_fit_options(m, defaults)
    m.set_defaults(func=mesh)

    pt = sub.add_parser(
        "points",
        help="the detector's points of each photo, as a table",
        description="Reconstruct each photo and write the points its fit used, one row per "
        "photo and point (a long table): path, point, x, y, z, reason. x, y are the photo's pixels; "
        "the MediaPipe detectors (the default cascade, mediapipe_v2, retinaface, none: 478 points; "
        "mediapipe: 468) give their face mesh with z its relative depth "
        "(pixels, smaller is nearer), the dlib detectors 68 points with z empty. A failed "
        "photo has one row, with empty point and coordinates and its reason.\n\n"
        "  sk3dmm points photos/ --out points.csv",
        formatter_class=fmt,
        epilog=EXIT_STATUS,
    )
    _add_photo_inputs(pt)
    pt.add_argument("-o", "--out", default="points.csv", help="output table, .csv or .parquet")
    _add_fit_options(pt, defaults)
    pt.set_defaults(func=points)

    o = sub.add_parser(
        "overlay",
        help="a contact sheet of fitted meshes over the photos",
        description="Reconstruct photos and draw one image of thumbnails, the fitted mesh over "
        "each face, titled with the file name and the reprojection error; a failed photo is "
        "framed and crossed in red, titled with its reason.\n\n"
        "  sk3dmm overlay photos/ --sheet sheet.jpg",
        formatter_class=fmt,
        epilog=EXIT_STATUS,
    )
    _add_photo_inputs(o)
    o.add_argument("--sheet", default="sheet.jpg", help="the image to write (.jpg, .png, .pdf ...)")
    o.add_argument("--ncols", type=int, default=5, help="thumbnails per row")
    o.add_argument("--thumb-size", type=int, default=256, help="thumbnail side, pixels")
    _add_fit_options(o, defaults)
    o.set_defaults(func=overlay)

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
        default=_reconstruct_defaults()["method"],
        choices=sorted(METHODS),
        help="how coefficients are obtained",
    )
    e.add_argument(
        "--detector",
        default=_reconstruct_defaults()["detector"],
        choices=sorted(LANDMARKERS),
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


class _TqdmHandler(logging.Handler):
    """Log records on their own lines, above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm.auto import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


@contextlib.contextmanager
def _warnings_on_own_lines():
    """Python warnings as one ``sk3dmm: warning:`` line each, written above any progress bar."""
    from tqdm.auto import tqdm

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        tqdm.write(f"sk3dmm: warning: {category.__name__}: {message}", file=sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def main(argv: list[str] | None = None) -> int:
    """Run a command and return its exit status (see ``EXIT_STATUS``); errors are one line on
    stderr."""
    from .exceptions import FaceNotFoundError, ImageReadError

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", handlers=[_TqdmHandler()]
    )
    try:
        with _warnings_on_own_lines():
            return args.func(args)
    except (FaceNotFoundError, ImageReadError) as exc:  # --on-error raise: a photo failed
        message = str(exc).replace("Pass on_error='warn' or 'nan'", "Pass --on-error warn or nan")
        print(f"sk3dmm: error: {message}", file=sys.stderr)
        return EXIT_FAILED
    except (
        ValueError,
        OSError,
    ) as exc:  # sk3dmm's errors are ValueErrors (ModelFileError, UsageError...)
        print(f"sk3dmm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("sk3dmm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
