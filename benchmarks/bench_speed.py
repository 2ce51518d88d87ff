"""Photo -> coefficients, timed: each stage, every method end to end, MediaPipe's own
``FaceLandmarker`` beside them, and a folder against the decode + detection ceiling.

One run, warm (every model loaded, nothing cached), on the same real photos at their own
sizes: by default 40 each of ``webmorph/neutral_front`` (675 px), ``aflw2000-3d`` (450 px)
and ``taiwanese-expressions/images`` (256 px) under ``--realfaces``.

1. Stages, one photo at a time, for each network runtime present (torch; LiteRT where the
   ``fast`` extra is installed): decode, BlazeFace, the mesh (its region resampled and the
   network), the blendshape network; then each method's stages from ``cache_stats_``.
2. End to end (from the file), one photo at a time (the best of ``--rounds`` passes: this
   shared VM's speed drifts by 20% from minute to minute) and in batches of ``--batch``, with
   the cores each used (CPU time over wall time).
3. MediaPipe's own runtime: ``--mediapipe-python`` names the Python of a virtualenv with
   ``mediapipe`` installed (not a dependency of sk3dmm; it pins numpy<2). Its photos go through
   ``FaceLandmarker`` (the v2 bundle, blendshapes on), decode and detection timed apart, the
   best of ``--rounds`` passes, once before sk3dmm's methods and once after; the ratios are
   against the faster run.
   Without it the row is skipped, saying so.
4. A folder (``--folder-n`` AFLW2000-3D photos): ``Reconstruct3DMM(n_jobs=k).transform`` on
   the paths against the ceiling that decoding + the detection stage alone reach with the same
   ``n_jobs`` (joblib threads, as the pipeline runs them).
5. ``--device cuda``: photos/s of the default method with the fit on the GPU at ``--gpu-batch``.

    python benchmarks/bench_speed.py --mediapipe-python /tmp/mpvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_report  # noqa: E402

DEFAULT_SETS = ("webmorph/neutral_front", "aflw2000-3d", "taiwanese-expressions/images")
METHODS = ("blendshapes_prior", "blendshapes", "landmarks", "rnet", "rnet_refined")

MEDIAPIPE_CHILD = r"""
import json, resource, sys, time
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision
paths, bundle, rounds = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
options = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=bundle),
    running_mode=vision.RunningMode.IMAGE, num_faces=1, output_face_blendshapes=True)
landmarker = vision.FaceLandmarker.create_from_options(options)
for p in paths[:5]:
    landmarker.detect(mp.Image.create_from_file(p))
decode, detect, cores = [], [], []
for _ in range(rounds):
    t0 = time.perf_counter()
    images = [mp.Image.create_from_file(p) for p in paths]
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    found = sum(bool(landmarker.detect(im).face_landmarks) for im in images)
    t2, r2 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    decode.append(1e3 * (t1 - t0) / len(paths))
    detect.append(1e3 * (t2 - t1) / len(paths))
    cores.append((r2.ru_utime - r1.ru_utime + r2.ru_stime - r1.ru_stime) / (t2 - t1))
print(json.dumps({"decode_ms": min(decode), "detect_ms": min(detect), "cores_used": cores[detect.index(min(detect))],
                  "found": found, "version": mp.__version__}))
"""


def photo_paths(realfaces: Path, per_set: int) -> list[Path]:
    paths = []
    for name in DEFAULT_SETS:
        files = sorted(p for p in (realfaces / name).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        paths += files[:per_set]
    if not paths:
        raise SystemExit(f"no photos under {realfaces} ({', '.join(DEFAULT_SETS)})")
    return paths


def per_photo_ms(fn, items, repeat: int = 1) -> float:
    """Mean ms of ``fn(item)`` over the items (after one warm-up call)."""
    fn(items[0])
    t0 = time.perf_counter()
    for _ in range(repeat):
        for item in items:
            fn(item)
    return 1e3 * (time.perf_counter() - t0) / (repeat * len(items))


def landmarker_stages(images: list[np.ndarray]) -> dict[str, float]:
    """ms per photo of BlazeFace, the mesh and the blendshape network (MediaPipe v2, as the
    default detector runs them where BlazeFace finds the face), one photo at a time."""
    from sk3dmm.faces import MediaPipeFaceLandmarkerV2
    from sk3dmm.pipeline import one_torch_thread

    lm = MediaPipeFaceLandmarkerV2()  # its networks on the runtime SK3DMM_NETWORK_RUNTIME names now
    with one_torch_thread():
        boxes = [lm.detect_boxes([im])[0] for im in images]
        found = [(im, b[0]) for im, b in zip(images, boxes) if b]
        rois = [lm.roi(box, pts, lm.mesh_size) for _, (box, _, pts) in found]
        meshes = [lm.landmarks([im], [roi])[0] for (im, _), roi in zip(found, rois)]
        return {
            "detect (BlazeFace)": per_photo_ms(lambda im: lm.detect_boxes([im]), images),
            "mesh (region + network)": per_photo_ms(
                lambda k: lm.landmarks([found[k][0]], [rois[k]]), list(range(len(found)))
            ),
            "blendshapes": per_photo_ms(lambda m: lm.blendshapes(m), meshes),
            "detection stage (all of it)": per_photo_ms(lambda im: lm.detect([im]), images),
        }


def at_long_side(images: list[np.ndarray], long_side: int) -> list[np.ndarray]:
    from PIL import Image

    out = []
    for im in images:
        scale = long_side / max(im.shape[:2])
        size = (round(im.shape[1] * scale), round(im.shape[0] * scale))
        out.append(np.asarray(Image.fromarray(im).resize(size, Image.BILINEAR)))
    return out


def default_detector_ms(images: list[np.ndarray]) -> float:
    """ms per photo of the default detector (detection + landmarks + scores), one at a time,
    as ``bench_real.py`` times it."""
    from sk3dmm import Reconstruct3DMM
    from sk3dmm.faces import detect_faces

    detector = Reconstruct3DMM().detector
    return per_photo_ms(lambda im: detect_faces(im, detector), images)


def method_times(method: str, paths: list[str], batch: int, rounds: int) -> dict:
    """End-to-end ms per photo (one at a time, the best of ``rounds`` passes; in batches), the
    stages' ms per photo in that pass, and the cores it used (CPU time over wall time)."""
    from sk3dmm import Reconstruct3DMM

    est = Reconstruct3DMM(method=method, cache=False, on_error="nan", progress=False).fit(paths[:2])
    est.transform(paths[:2])
    one = np.inf
    for _ in range(rounds):
        wall = cpu = 0.0
        stages: dict[str, float] = {}
        rows = []
        for p in paths:
            t0, cpu0 = time.perf_counter(), time.process_time()
            rows.append(est.transform([p]))
            wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - cpu0
            for r in est.cache_stats_.itertuples():  # outside the timed calls: the report's, not a user's
                stages[r.stage] = stages.get(r.stage, 0.0) + r.seconds
        if 1e3 * wall / len(paths) < one:
            one, best_stages, cores = 1e3 * wall / len(paths), stages, cpu / wall
    est.set_params(batch_size=batch)
    t0 = time.perf_counter()
    batched = est.transform(paths)
    many = 1e3 * (time.perf_counter() - t0) / len(paths)
    rows = np.concatenate(rows)
    return {
        "one_ms": one,
        "batch_ms": many,
        "stages_ms": {k: 1e3 * v / len(paths) for k, v in best_stages.items()},
        "cores_used": cores,
        "rows": int(np.isfinite(rows).all(1).sum()),
        "max_diff_batch_vs_one": float(np.nanmax(np.abs(batched - rows))),
    }


def mediapipe_times(python: str | None, paths: list[str], out: Path, rounds: int) -> dict | str:
    """MediaPipe's own FaceLandmarker on the same files, in its own virtualenv (the best of
    ``rounds`` passes, as for sk3dmm's methods)."""
    if not python:
        return "skipped: no --mediapipe-python (a virtualenv's Python with mediapipe installed)"
    bundle = Path(__file__).resolve().parents[1].parent / "shared" / "mediapipe" / "face_landmarker.task"
    bundle = Path(os.environ.get("SK3DMM_FACE_LANDMARKER_TASK", bundle))
    if not bundle.is_file():
        return f"skipped: the v2 bundle {bundle} is missing (set SK3DMM_FACE_LANDMARKER_TASK)"
    listing = out / "speed_paths.json"
    listing.write_text(json.dumps(paths))
    try:
        done = subprocess.run(
            [python, "-c", MEDIAPIPE_CHILD, str(listing), str(bundle), str(rounds)],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"skipped: {python} could not run mediapipe ({exc})"
    return json.loads(done.stdout.strip().splitlines()[-1])


def folder_times(paths: list[str], n_jobs: int) -> dict:
    """Photos/s of the default method over a folder, and of decode + the detection stage alone."""
    from joblib import Parallel, delayed

    from sk3dmm import Reconstruct3DMM
    from sk3dmm.faces import get_landmarker, read_image
    from sk3dmm.pipeline import one_torch_thread

    detector = Reconstruct3DMM().detector
    landmarker = get_landmarker(detector, 1)

    def decode_and_detect(p):
        return len(landmarker.detect(read_image(p)))

    with one_torch_thread():
        decode_and_detect(paths[0])
        t0 = time.perf_counter()
        Parallel(n_jobs=n_jobs, prefer="threads")(delayed(decode_and_detect)(p) for p in paths)
        ceiling = len(paths) / (time.perf_counter() - t0)
    est = Reconstruct3DMM(cache=False, on_error="nan", n_jobs=n_jobs, progress=False).fit(paths[:2])
    est.transform(paths[:2])
    t0 = time.perf_counter()
    rows = est.transform(paths)
    full = len(paths) / (time.perf_counter() - t0)
    return {
        "n_jobs": n_jobs,
        "ceiling_photos_per_s": ceiling,
        "photos_per_s": full,
        "share_of_ceiling": full / ceiling,
        "rows": int(np.isfinite(rows).all(1).sum()),
        "stages_s": {r.stage: r.seconds for r in est.cache_stats_.itertuples()},
    }


def gpu_times(paths: list[str], batch: int) -> dict:
    import torch

    from sk3dmm import Reconstruct3DMM

    est = Reconstruct3DMM(cache=False, on_error="nan", device="cuda", batch_size=batch, progress=False)
    est.fit(paths[:2]).transform(paths[:batch])
    t0 = time.perf_counter()
    est.transform(paths)
    torch.cuda.synchronize()
    return {
        "gpu": torch.cuda.get_device_name(),
        "photos_per_s": len(paths) / (time.perf_counter() - t0),
        "stages_s": {r.stage: r.seconds for r in est.cache_stats_.itertuples()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    ap.add_argument("--realfaces", type=Path, default=here.parent / "shared" / "realfaces")
    ap.add_argument("--per-set", type=int, default=40, help="photos of each of the three sets")
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="passes one photo at a time; the best is kept")
    ap.add_argument("--mediapipe-python", help="Python of a virtualenv with mediapipe installed")
    ap.add_argument("--folder-n", type=int, default=1000, help="AFLW2000-3D photos of the folder run (0: none)")
    ap.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--gpu-batch", type=int, default=256)
    ap.add_argument("--out", type=Path, default=here / "benchmarks" / "results")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from sk3dmm.faces import RUNTIME_VARIABLE, acceleration, litert_installed, read_image

    paths = [str(p) for p in photo_paths(args.realfaces, args.per_set)]
    images = [read_image(p) for p in paths]
    results: dict = {"photos": len(paths), "cores": len(os.sched_getaffinity(0)), "cpu": platform.processor()}
    results["decode_ms"] = per_photo_ms(read_image, paths)
    results["opencv_crops"] = acceleration()["crops"] == "opencv"
    runtimes = ["torch", "litert"] if litert_installed() else ["torch"]
    results["stages_ms"] = {}
    for runtime in runtimes:
        os.environ[RUNTIME_VARIABLE] = runtime
        results["stages_ms"][runtime] = landmarker_stages(images)
        aflw = [im for p, im in zip(paths, images) if "aflw2000" in p]
        if aflw:  # the #26 figure: AFLW2000-3D photos at 640 px on the long side, as bench_real.py
            key = "default detector, AFLW2000-3D at 640 px"
            results["stages_ms"][runtime][key] = default_detector_ms(at_long_side(aflw, 640))
    os.environ[RUNTIME_VARIABLE] = runtimes[-1]
    results["mediapipe"] = mediapipe_times(args.mediapipe_python, paths, args.out, args.rounds)
    results["methods"] = {m: method_times(m, paths, args.batch, args.rounds) for m in args.methods}
    results["mediapipe_after"] = mediapipe_times(args.mediapipe_python, paths, args.out, args.rounds)
    if args.folder_n:
        aflw = sorted(str(p) for p in (args.realfaces / "aflw2000-3d").glob("*.jpg"))[: args.folder_n]
        results["folder"] = [folder_times(aflw, k) for k in args.n_jobs]
    if args.device == "cuda":
        results["gpu"] = gpu_times(paths * max(1, 1024 // len(paths)), args.gpu_batch)
    write_report(args.out, "speed", report(results, runtimes[-1]), results)


def best_mediapipe(res: dict) -> dict | str:
    """The faster of the MediaPipe runs before and after sk3dmm's (the ratios are against it)."""
    runs = [r for r in (res["mediapipe"], res.get("mediapipe_after")) if isinstance(r, dict)]
    return min(runs, key=lambda r: r["decode_ms"] + r["detect_ms"]) if runs else res["mediapipe"]


def report(res: dict, runtime: str) -> str:
    mp = best_mediapipe(res)
    lines = [
        f"# Speed ({res['photos']} real photos at their own sizes; {res['cores']} cores, "
        f"{platform.machine()}; warm, nothing cached)",
        "",
        f"Networks on {runtime}; crops by {'OpenCV' if res['opencv_crops'] else 'numpy'}. ms per photo.",
        "",
        "## Stages, one photo at a time",
        "",
        "| stage | " + " | ".join(res["stages_ms"]) + " |",
        "|---|" + "---|" * len(res["stages_ms"]),
        "| decode | " + " | ".join(f"{res['decode_ms']:.1f}" for _ in res["stages_ms"]) + " |",
    ]
    for stage in next(iter(res["stages_ms"].values())):
        lines.append(f"| {stage} | " + " | ".join(f"{v[stage]:.1f}" for v in res["stages_ms"].values()) + " |")
    base = mp["detect_ms"] if isinstance(mp, dict) else None
    lines += [
        "",
        "## Methods, end to end from the file",
        "",
        "| method | one at a time | cores used | batches | x MediaPipe (one at a time) | stages (ms per photo, one at a time) | rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, r in res["methods"].items():
        ratio = f"{r['one_ms'] / (base + mp['decode_ms']):.2f}x" if base else "-"
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items())
        lines.append(
            f"| {m} | {r['one_ms']:.1f} | {r['cores_used']:.2f} | {r['batch_ms']:.1f} | {ratio} | {stages} | {r['rows']} |"
        )
    lines += ["", "## MediaPipe's own FaceLandmarker (v2 bundle, blendshapes on)", ""]
    if isinstance(mp, dict):
        runs = [r for r in (res["mediapipe"], res.get("mediapipe_after")) if isinstance(r, dict)]
        lines.append(
            f"mediapipe {mp['version']}: decode {mp['decode_ms']:.1f} ms + detection, mesh and "
            f"blendshapes {mp['detect_ms']:.1f} ms per photo on {mp['cores_used']:.2f} cores; a face in "
            f"{mp['found']} of {res['photos']}. The faster of its runs before and after sk3dmm's (the best of "
            f"each run's passes): " + " and ".join(f"{r['decode_ms'] + r['detect_ms']:.1f} ms" for r in runs) + "."
        )
    else:
        lines.append(mp)
    if "folder" in res:
        lines += [
            "",
            "## A folder (AFLW2000-3D paths, default method)",
            "",
            "| n_jobs | decode + detection alone, photos/s | the whole method, photos/s | share | rows |",
            "|---|---|---|---|---|",
        ]
        for f in res["folder"]:
            lines.append(
                f"| {f['n_jobs']} | {f['ceiling_photos_per_s']:.1f} | {f['photos_per_s']:.1f} | "
                f"{100 * f['share_of_ceiling']:.0f}% | {f['rows']} |"
            )
    if "gpu" in res:
        lines += ["", f"## GPU ({res['gpu']['gpu']})", "", f"{res['gpu']['photos_per_s']:.0f} photos/s"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
