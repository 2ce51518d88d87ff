"""Reference outputs of MediaPipe's own runtime, saved once as a test fixture.

Run in a scratch virtualenv that has the reference runtime (it pins numpy<2, so never in
sk3dmm's environment)::

    python -m venv /tmp/mpref
    /tmp/mpref/bin/pip install mediapipe==0.10.21 tflite-runtime "numpy<2" pillow
    .venv/bin/python -c "import skimage.data, PIL.Image; PIL.Image.fromarray(skimage.data.astronaut()).save('/tmp/astronaut.png')"
    /tmp/mpref/bin/python tools/make_mediapipe_fixtures.py /tmp/astronaut.png

Writes ``tests/data/mediapipe_reference.npz``:

* network level (TensorFlow Lite interpreter on the same uint8-derived inputs): the detector's
  ``regressors``/``classificators`` on the astronaut letterboxed to 128 x 128, and the
  landmark network's 1404 outputs and face flag on a 192 x 192 crop of her face;
* pipeline level (``mediapipe.solutions``, static images): the face detector's box and six
  keypoints and the 468-point mesh on the astronaut, in pixels.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "mediapipe_reference.npz"


def main(photo: str) -> None:
    import mediapipe as mp
    from tflite_runtime.interpreter import Interpreter

    root = Path(mp.__file__).parent / "modules"
    image = np.asarray(Image.open(photo).convert("RGB"))
    h, w = image.shape[:2]
    det_in = np.asarray(Image.fromarray(image).resize((128, 128), Image.BILINEAR))
    crop = np.asarray(Image.fromarray(image[20:250, 120:350]).resize((192, 192), Image.BILINEAR))

    def run(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
        interp = Interpreter(model_path=str(path))
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x[None].astype(np.float32))
        interp.invoke()
        return {d["name"]: interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()}

    det = run(root / "face_detection/face_detection_short_range.tflite", det_in / 127.5 - 1.0)
    mesh = run(root / "face_landmark/face_landmark.tflite", crop / 255.0)
    print({k: v.shape for k, v in {**det, **mesh}.items()})

    with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as fd:
        found = fd.process(image).detections
    box = found[0].location_data.relative_bounding_box
    det_box = np.array([box.xmin * w, box.ymin * h, (box.xmin + box.width) * w, (box.ymin + box.height) * h])
    det_kp = np.array([[k.x * w, k.y * h] for k in found[0].location_data.relative_keypoints])
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, refine_landmarks=False, max_num_faces=1
    ) as fm:
        lms = fm.process(image).multi_face_landmarks[0].landmark
    mesh_px = np.array([[p.x * w, p.y * h, p.z * w] for p in lms])

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        detector_input=det_in.astype(np.uint8),
        regressors=det["regressors"],
        classificators=det["classificators"],
        landmark_input=crop.astype(np.uint8),
        landmarks=mesh["conv2d_21"],
        face_flag=mesh["conv2d_31"],
        pipeline_box=det_box,
        pipeline_keypoints=det_kp,
        pipeline_mesh=mesh_px,
        mediapipe_version=np.array(mp.__version__),
    )
    zipfile.ZipFile(OUT).testzip()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
