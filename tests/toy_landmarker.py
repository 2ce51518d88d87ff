"""A landmarker of the tests' own: MediaPipe's mesh reduced to its 68 iBUG points (a 68-point
scheme), to show that a new landmarker is one module and one registry line."""

import numpy as np

from sk3dmm.faces import Face, get_landmarker


class Toy68:
    scheme = "ibug68"
    key = "toy68-from-mediapipe"

    def __init__(self, upsample: int = 1):
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Face]:
        self.calls += 1
        faces = get_landmarker("mediapipe").detect(image)
        return [Face(box=f.box, score=f.score, points=f.landmarks) for f in faces]
