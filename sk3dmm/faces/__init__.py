"""Images in, faces out: reading photos, the landmarkers (MediaPipe's 468-point mesh, dlib's 68
points, MediaPipe v2's 478 points and blendshape scores, on BlazeFace's or RetinaFace's boxes;
:mod:`sk3dmm.faces.landmarkers`), the RetinaFace detector, the one face record and the crops."""

from ._alignment import align_crop, crop_affine, eye_line_angle, five_points, pos_fit, rotate_points
from ._blendshape_names import MEDIAPIPE_BLENDSHAPES
from ._crop import Crop, downscaled, five_point_crop, sample_bilinear, sample_opencv
from ._face import FACE_CHOICES, MESH_TO_68, SCHEMES, Face, Scheme, choose_face, largest_face
from ._images import as_image_list, column_values, load_image, read_image, to_rgb_uint8
from ._retinaface import RetinaFace
from .landmarkers import LANDMARKERS, detect_faces, get_landmarker, models_dir, register_landmarker
from .landmarkers._mediapipe import MediaPipeFaceMesh
from .landmarkers._mediapipe_v2 import MediaPipeFaceLandmarkerV2

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
    "RetinaFace",
    "Scheme",
    "align_crop",
    "as_image_list",
    "choose_face",
    "column_values",
    "crop_affine",
    "detect_faces",
    "downscaled",
    "eye_line_angle",
    "five_point_crop",
    "five_points",
    "get_landmarker",
    "largest_face",
    "load_image",
    "models_dir",
    "pos_fit",
    "read_image",
    "register_landmarker",
    "rotate_points",
    "sample_bilinear",
    "sample_opencv",
    "to_rgb_uint8",
]
