"""Images in, faces out: reading images, face detection and landmarks (dlib's 68 points or
MediaPipe's 468-point mesh), the 5-point alignment."""

from ._alignment import align_crop, crop_affine, eye_line_angle, five_points, pos_fit, rotate_points
from ._dlib import FACE_CHOICES, FaceDetection, choose_face, detect_faces, largest_face, models_dir
from ._images import as_image_list, column_values, load_image, read_image, to_rgb_uint8
from ._mediapipe import MESH_TO_68, MediaPipeFaceMesh, MeshDetection

__all__ = [
    "FACE_CHOICES",
    "FaceDetection",
    "choose_face",
    "eye_line_angle",
    "rotate_points",
    "MESH_TO_68",
    "MediaPipeFaceMesh",
    "MeshDetection",
    "align_crop",
    "crop_affine",
    "as_image_list",
    "column_values",
    "detect_faces",
    "five_points",
    "largest_face",
    "load_image",
    "models_dir",
    "pos_fit",
    "read_image",
    "to_rgb_uint8",
]
