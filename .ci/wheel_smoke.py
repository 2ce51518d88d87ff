"""Smoke test of an installed sk3dmm wheel, run from outside the source tree.

Usage: python wheel_smoke.py SOURCE_TREE

Fails (non-zero exit) when the import resolves to the source tree, when any file of the
source tree's embedded data folders is missing from the installed package, or when any
embedded model (ICT model, MediaPipe's detector and face mesh with the ICT correspondence,
MediaPipe v2's 478-point mesh and blendshape network,
dlib HOG and CNN detectors with the 68-point predictor, R-Net, the profile R-Net,
C-Net) cannot run on the one real photo tests may use.
"""

import os
import sys
from pathlib import Path

import numpy as np
from skimage.data import astronaut

import sk3dmm
from sk3dmm import Reconstruct3DMM, SetAggregator
from sk3dmm.faces import acceleration, detect_faces, litert_installed
from sk3dmm.faces._retinaface import RetinaFace

source = Path(sys.argv[1]).resolve()
installed = Path(sk3dmm.__file__).resolve().parent
assert not installed.is_relative_to(source), f"sk3dmm was imported from the source tree {installed}"
print(f"sk3dmm {sk3dmm.__version__} from {installed}")

shipped = sorted(p.relative_to(source / "sk3dmm") for p in (source / "sk3dmm").glob("*/data/*") if p.is_file())
missing = [str(p) for p in shipped if not (installed / p).is_file()]
assert not missing, f"embedded files missing from the wheel: {missing}"
print(f"all {len(shipped)} embedded files installed")

photo = astronaut()
photos = [photo, photo[:, ::-1].copy(), photo[20:480, 10:500].copy()]
for detector in ("mediapipe", "mediapipe_v2", "retinaface", "cascade", "hog", "cnn"):
    faces = detect_faces(photo, detector)
    assert faces and faces[0].landmarks.shape == (68, 2), detector
    print(f"{detector} detector + landmarks: ok")
assert detect_faces(photo, "mediapipe")[0].mesh.shape == (468, 3)
v2 = detect_faces(photo, "mediapipe_v2")[0]
assert v2.mesh.shape == (478, 3) and v2.extras["blendshape_scores"].shape == (52,)
assert 0.5 < v2.extras["blendshape_scores"][44] <= 1.0, "mouthSmileLeft of a smiling astronaut"
(box, score, keypoints), = RetinaFace().detect_boxes([photo])[0]
assert score > 0.99 and keypoints.shape == (5, 2), "RetinaFace on the astronaut"
assert detect_faces(photo, "retinaface")[0].extras["found_by"] == "retinaface"
assert detect_faces(photo[0:300, 80:380].copy(), "none")[0].extras["found_by"] == "photo"
print("RetinaFace (embedded weights) and the whole-photo mode: ok")
print(f"acceleration: {acceleration()}")
if litert_installed():  # the `fast` extra: the shipped .tflite files on LiteRT, against the torch graphs
    found = {}
    for runtime in ("torch", "litert"):
        os.environ["SK3DMM_NETWORK_RUNTIME"] = runtime
        found[runtime] = detect_faces(photo, "mediapipe_v2")[0]
    del os.environ["SK3DMM_NETWORK_RUNTIME"]
    gap = np.abs(found["torch"].points[:, :2] - found["litert"].points[:, :2]).max()
    assert gap < 0.05, f"LiteRT and torch meshes differ by {gap} px"
    print(f"MediaPipe v2 on LiteRT: ok ({gap:.4f} px from the torch graphs)")
for method, detector in (("landmarks", "mediapipe"), ("rnet", "mediapipe"), ("blendshapes", "mediapipe_v2"), ("blendshapes_prior", "cascade")):
    coefs = Reconstruct3DMM(method=method, detector=detector).fit_transform(photos)
    assert coefs.shape == (3, 153) and np.isfinite(coefs).all(), method
    print(f"Reconstruct3DMM(method={method!r}, detector={detector!r}): ok")
rows = {p: Reconstruct3DMM(detector="retinaface", profiles=p, coef="pose").fit_transform(photos) for p in ("fit", "network")}
assert np.array_equal(rows["fit"], rows["network"]), "profiles='network' changed a face whose mesh is usable"
from sk3dmm.morphable import load_ict_model  # noqa: E402
from sk3dmm.nets import load_profile_rnet  # noqa: E402

profile_net = load_profile_rnet(load_ict_model()).net
import torch  # noqa: E402

assert torch.isfinite(profile_net(torch.rand(2, 3, 112, 112))).all()
print("the embedded profile R-Net (profiles='network'): ok")
sets = Reconstruct3DMM(method="rnet", coef="alpha").fit_transform([photos, photos[:2]])
cnet = SetAggregator("cnet").transform(sets)
mean = SetAggregator("mean").transform(sets)
assert cnet.shape == (2, 100) and np.isfinite(cnet).all()
assert not np.allclose(cnet, mean, atol=1e-6), "C-Net returned the plain mean"
print("SetAggregator('cnet') with the embedded C-Net: ok")
print("wheel smoke test passed")
