"""Datasets: synthetic faces with ground truth, and loaders for KDEF and FEI folders."""

from ._degrade import degrade_photos
from ._fei import load_fei
from ._folders import MisnamedFileWarning
from ._kdef import load_kdef
from ._kdef_names import ANGLES, EXPRESSIONS, kdef_name
from ._synthetic_faces import EMOTION_RECIPES, expression_weights, make_synthetic_faces, write_kdef_folder
from ._synthetic_landmarks import make_synthetic_landmarks, random_coefficients

__all__ = [
    "ANGLES",
    "EMOTION_RECIPES",
    "EXPRESSIONS",
    "MisnamedFileWarning",
    "degrade_photos",
    "expression_weights",
    "kdef_name",
    "load_fei",
    "load_kdef",
    "make_synthetic_faces",
    "make_synthetic_landmarks",
    "random_coefficients",
    "write_kdef_folder",
]
