import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def ict():
    from sk3dmm import load_ict_model

    return load_ict_model()


@pytest.fixture(scope="session")
def astronaut():
    from skimage.data import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def face_photos(astronaut):
    """Eight different real photos of one face: crops, flips, scales and brightness."""
    from .reference_photos import VARIANTS, astronaut_variant

    return [astronaut_variant(astronaut, *v) for v in VARIANTS]


def corrupt_copy(src, dst, position: float = 0.5):
    """Copy a file with one byte flipped (a truncated download or a bad disk, in miniature)."""
    data = bytearray(open(src, "rb").read())
    data[int(len(data) * position)] ^= 0xFF
    open(dst, "wb").write(bytes(data))
    return dst
