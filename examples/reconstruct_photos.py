"""Photos to coefficients, with a mesh overlay: ``python examples/reconstruct_photos.py [PHOTOS...]``."""

import sys

import matplotlib

matplotlib.use("Agg")
from skimage.data import astronaut

from sk3dmm import Reconstruct3DMM
from sk3dmm.faces import load_image
from sk3dmm.plotting import plot_reconstruction

photos = sys.argv[1:] or [astronaut()]
est = Reconstruct3DMM(coef=("alpha", "beta", "pose"), on_error="warn").set_output(transform="pandas")
coefs = est.fit_transform(photos)
print(coefs.filter(like="pose_").round(1))
for i, rec in enumerate(est.reconstructions_):
    if rec is not None:
        plot_reconstruction(load_image(photos[i]), rec, est.model_).savefig(f"overlay_{i}.png", dpi=120)
        print(f"wrote overlay_{i}.png")
