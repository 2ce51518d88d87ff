"""Reference outputs of MediaPipe's own Face Landmarker v2, saved once as a test fixture.

Run in a scratch virtualenv that has the reference runtime (it pins numpy<2, so never in
sk3dmm's environment)::

    python -m venv /tmp/mpref
    /tmp/mpref/bin/pip install mediapipe==0.10.21 tflite-runtime "numpy<2" pillow
    .venv/bin/python -c "import skimage.data, PIL.Image; PIL.Image.fromarray(skimage.data.astronaut()).save('/tmp/astronaut.png')"
    /tmp/mpref/bin/python tools/make_mediapipe_v2_fixtures.py /tmp/astronaut.png

Writes ``tests/data/mediapipe_v2_reference.npz``:

* network level (TensorFlow Lite interpreter): the 478-point network's three outputs
  (``landmark_output_0..2``, in the interpreter's output order) on a
  256 x 256 crop of the astronaut's face, and the blendshape network's 52 scores on the 146
  points of that output (in pixels of the crop);
* pipeline level (``mediapipe.tasks.vision.FaceLandmarker``, image mode, one face, with
  blendshapes): the 478 points (pixels; z scaled like x) and the 52 scores, for the astronaut,
  her mirror image and her half-size copy (``VARIANTS``, rebuilt by the tests).

``--photos a.jpg b.jpg ... --out other.npz`` writes the pipeline-level outputs of any photos
instead (for ``benchmarks/bench_mediapipe_v2_parity.py`` on photos that may not enter the repo).
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "mediapipe_v2_reference.npz"
BUNDLE = ROOT.parent / "shared" / "mediapipe" / "face_landmarker.task"
CROP = (slice(10, 250), slice(120, 360))  # rows, columns of the astronaut's face (240 x 240)
VARIANTS = ("astronaut", "mirrored", "half")


def variant(image: np.ndarray, name: str) -> np.ndarray:
    """The astronaut variants the tests rebuild (PIL bilinear for the half-size one)."""
    if name == "mirrored":
        return np.ascontiguousarray(image[:, ::-1])
    if name == "half":
        h, w = image.shape[:2]
        return np.asarray(Image.fromarray(image).resize((w // 2, h // 2), Image.BILINEAR))
    return image


def landmarker(bundle: Path):
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions, RunningMode

    options = FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(bundle)),
        running_mode=RunningMode.IMAGE,
        num_faces=1,
        output_face_blendshapes=True,
    )
    return FaceLandmarker.create_from_options(options)


def pipeline_outputs(fl, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(478, 3) points in pixels and (52,) scores; NaN where no face is found."""
    import mediapipe as mp

    h, w = image.shape[:2]
    result = fl.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
    if not result.face_landmarks:
        return np.full((478, 3), np.nan), np.full(52, np.nan)
    points = np.array([[p.x * w, p.y * h, p.z * w] for p in result.face_landmarks[0]])
    scores = np.array([c.score for c in result.face_blendshapes[0]])
    return points, scores


def network_outputs(bundle: Path, image: np.ndarray) -> dict[str, np.ndarray]:
    from tflite_runtime.interpreter import Interpreter

    with zipfile.ZipFile(bundle) as zf:
        mesh_file, shapes_file = zf.read("face_landmarks_detector.tflite"), zf.read("face_blendshapes.tflite")

    def run(content: bytes, x: np.ndarray) -> list[np.ndarray]:
        interp = Interpreter(model_content=content)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x[None].astype(np.float32))
        interp.invoke()
        return [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]

    crop = np.asarray(Image.fromarray(image[CROP]).resize((256, 256), Image.BILINEAR))
    mesh_out = run(mesh_file, crop / 255.0)
    by_size = sorted(mesh_out, key=lambda a: -a.size)
    subset = np.asarray(_names().BLENDSHAPE_INPUT_POINTS)
    blend_in = by_size[0].reshape(478, 3)[subset, :2]
    (scores,) = run(shapes_file, blend_in)
    return {
        "landmark_input": crop.astype(np.uint8),
        **{f"landmark_output_{i}": o.reshape(-1) for i, o in enumerate(mesh_out)},
        "blendshape_input": blend_in.astype(np.float32),
        "blendshape_scores": scores.reshape(-1),
    }


def _names():
    """sk3dmm's copy of the network's constants, read without importing sk3dmm (and torch)."""
    import importlib.util

    path = ROOT / "sk3dmm" / "faces" / "_blendshape_names.py"
    spec = importlib.util.spec_from_file_location("blendshape_names", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("astronaut", nargs="?", help="the astronaut as a PNG")
    parser.add_argument("--photos", nargs="*", default=[])
    parser.add_argument("--bundle", default=str(BUNDLE))
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    import mediapipe as mp

    bundle, out = Path(args.bundle), Path(args.out)
    fl = landmarker(bundle)
    arrays: dict[str, np.ndarray] = {"mediapipe_version": np.array(mp.__version__)}
    if args.photos:
        found = [pipeline_outputs(fl, np.asarray(Image.open(p).convert("RGB"))) for p in args.photos]
        arrays.update(
            names=np.array([Path(p).name for p in args.photos]),
            points=np.stack([f[0] for f in found]),
            scores=np.stack([f[1] for f in found]),
        )
    else:
        image = np.asarray(Image.open(args.astronaut).convert("RGB"))
        arrays.update(network_outputs(bundle, image))
        for name in VARIANTS:
            arrays[f"{name}_points"], arrays[f"{name}_scores"] = pipeline_outputs(fl, variant(image, name))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    zipfile.ZipFile(out).testzip()
    print(f"wrote {out} ({out.stat().st_size} bytes): {sorted(arrays)}")


if __name__ == "__main__":
    main()
