"""Errors sk3dmm raises on purpose."""


class ModelFileError(ValueError):
    """A model or weights file is missing, corrupt, or not in the expected format."""


class FaceNotFoundError(ValueError):
    """No face could be detected in an image."""


class ImageReadError(ValueError):
    """An input could not be read or converted to an RGB image."""


class MultipleFacesError(FaceNotFoundError):
    """A photo holds several faces and the face choice (``faces="refuse"``) takes none."""


class ReconstructionError(ValueError):
    """Detection, R-Net or the fit failed for one sample (the message names the stage)."""
