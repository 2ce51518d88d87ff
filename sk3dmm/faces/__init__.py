"""Images in, faces out: reading photos, the landmarkers (MediaPipe's 468-point mesh, dlib's 68
points, MediaPipe v2's 478 points and blendshape scores, on BlazeFace's or RetinaFace's boxes;
:mod:`sk3dmm.faces.landmarkers`), the RetinaFace detector, the one face record and the crops."""

from ._alignment import (
    align_crop,
    crop_affine,
    eye_line_angle,
    five_as_68,
    five_points,
    pos_fit,
    rotate_points,
)
from ._blendshape_names import MEDIAPIPE_BLENDSHAPES
from ._crop import Crop, downscaled, downscaled_shape, five_point_crop, sample_bilinear, sample_opencv
from ._face import FACE_CHOICES, MESH_TO_68, SCHEMES, Face, Scheme, choose_face, largest_face
from ._images import as_image_list, column_values, load_image, read_image, to_rgb_uint8
from ._retinaface import RetinaFace
from .landmarkers import LANDMARKERS, detect_faces, get_landmarker, models_dir, register_landmarker
from .landmarkers._litert import RUNTIME_VARIABLE, litert_installed, network_threads
from .landmarkers._mediapipe import MediaPipeFaceMesh
from .landmarkers._mediapipe_v2 import V2_FILES, MediaPipeFaceLandmarkerV2
from .landmarkers._mediapipe_v2 import network_runtime as _network_runtime
from .landmarkers._retinaface import unusable_mesh


def acceleration() -> dict[str, str]:
    """What runs MediaPipe's networks on CPU now (``"litert"`` or ``"torch"``, see
    ``SK3DMM_NETWORK_RUNTIME``) and what resamples their crops (``"opencv"`` or ``"numpy"``):
    the ``fast`` extra (``pip install 'sk3dmm[fast]'``) gives LiteRT and OpenCV."""
    from ._crop import _opencv_warp

    return {
        "networks": _network_runtime(V2_FILES[1], "cpu"),
        "crops": "numpy" if _opencv_warp() is None else "opencv",
    }


FaceDetection = Face  # the former names of the one face record
MeshDetection = Face

__all__ = [
    "FACE_CHOICES",
    "LANDMARKERS",
    "MEDIAPIPE_BLENDSHAPES",
    "MESH_TO_68",
    "SCHEMES",
    "Crop",
    "Face",
    "FaceDetection",
    "MediaPipeFaceLandmarkerV2",
    "MediaPipeFaceMesh",
    "MeshDetection",
    "RUNTIME_VARIABLE",
    "RetinaFace",
    "Scheme",
    "acceleration",
    "align_crop",
    "as_image_list",
    "choose_face",
    "column_values",
    "crop_affine",
    "detect_faces",
    "downscaled",
    "downscaled_shape",
    "eye_line_angle",
    "five_point_crop",
    "five_as_68",
    "five_points",
    "get_landmarker",
    "largest_face",
    "litert_installed",
    "network_threads",
    "load_image",
    "models_dir",
    "pos_fit",
    "read_image",
    "register_landmarker",
    "rotate_points",
    "sample_bilinear",
    "sample_opencv",
    "to_rgb_uint8",
    "unusable_mesh",
]
